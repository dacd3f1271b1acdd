package org.jettyitk.internal.worker;

import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.nio.channels.Channels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.function.IntSupplier;

import org.eclipse.jetty.http.HttpCompliance;
import org.eclipse.jetty.http2.HTTP2Session;
import org.eclipse.jetty.http2.WindowRateControl;
import org.eclipse.jetty.http2.api.Stream;
import org.eclipse.jetty.http2.api.server.ServerSessionListener;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.handler.DefaultHandler;
import org.eclipse.jetty.util.Attachable;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.jettyitk.PipeConnector;
import org.jettyitk.internal.posix.DescriptorChannel;
import org.jettyitk.internal.posix.Posix;
import org.jettyitk.internal.posix.PrivilegeDrop;
import org.jettyitk.internal.posix.PrivilegeException;
import org.jettyitk.internal.wire.Wire;
import org.jettyitk.internal.wire.WorkerArguments;
import org.jettyitk.internal.wire.WorkerExit;

/**
 * <p>The worker process: one tenant identity, one Jetty {@link Server} whose only connector is a
 * {@link PipeConnector} over the stdin/stdout the front holds.</p>
 * <p>Its {@link WorkerArguments} come in the environment variable {@value WorkerArguments#ENVIRONMENT_VARIABLE},
 * not on its world-readable command line.</p>
 * <ol>
 *   <li>Keep the protocol pipe to itself: fd 1 is duplicated for the protocol and then pointed at stderr, and
 *   {@code System.out} goes to stderr, so whatever the tenant prints lands in the vhost's log. This keeps the
 *   tenant from corrupting the protocol by mistake, not on purpose: the tenant's code runs in this process as
 *   the same uid, and native code, jnr-posix on the class path, or {@code sun.misc.Unsafe} reach the
 *   descriptors (only reopening {@code /proc/self/fd/N} is refused: the front, as root, created the pipes). The
 *   front treats everything on the pipe as hostile.</li>
 *   <li>Set the scheduling policy, umask, nice value and resource limits, then drop to the identity (a no-op when the front launched it through {@code setpriv})
 *   and prove the drop, before any tenant class or file is touched.</li>
 *   <li>Deploy the app, then start the connector: its first bytes (HTTP/2 SETTINGS) tell the front it is ready.</li>
 *   <li>Exit when the front closes the pipe: a worker never outlives its front.</li>
 * </ol>
 * <p>Its exit statuses, and the line that says why it could not start, are {@link WorkerExit}'s; its HTTP/2
 * settings and its pipes' capacity, {@link Wire}'s.</p>
 */
public final class WorkerMain
{
    /** Threads of the worker's server: the tenant's requests run on them. */
    public static final int MAX_THREADS = 200;
    private static final Path PIPE_MAX_SIZE = Path.of("/proc/sys/fs/pipe-max-size");
    private static final Path PROC_STATUS = Path.of("/proc/self/status");

    private WorkerMain()
    {
    }

    public static void main(String[] args)
    {
        InputStream protocolIn = new FileInputStream(FileDescriptor.in);
        PrintStream stderr = new PrintStream(new FileOutputStream(FileDescriptor.err), true);
        System.setIn(InputStream.nullInputStream());
        System.setOut(stderr);

        WorkerArguments arguments;
        try
        {
            arguments = WorkerArguments.decode(System.getenv(WorkerArguments.ENVIRONMENT_VARIABLE));
        }
        catch (IllegalArgumentException x)
        {
            exit(stderr, WorkerExit.USAGE, "bad arguments: " + x.getMessage());
            return;
        }

        // Launched through setpriv, the worker is the tenant already: its temporary directory must exist before
        // jnr-posix's native library is extracted there. As root, it waits for the drop.
        boolean root = runsAsRoot();
        if (!root && !createTemporaryDirectory(arguments, stderr))
            return;

        Posix posix;
        try
        {
            posix = Posix.get();
        }
        catch (IOException x)
        {
            exit(stderr, WorkerExit.NOT_NATIVE, x.getMessage());
            return;
        }

        DescriptorChannel protocolOut;
        IntSupplier protocolRoom;
        try
        {
            int protocolFd = reserveProtocolFd(posix);
            enlargePipes(posix, protocolFd, stderr);
            scheduleAsBatch(posix, stderr);
            // Written through libc, not a FileDescriptor: the worker opens no part of java.io to reflection.
            protocolOut = new DescriptorChannel(posix, protocolFd);
            protocolRoom = roomOf(posix, protocolFd);
            // Per-process set-up before the uid change, as php-fpm does: each call is checked.
            posix.umask(arguments.umask());
            arguments.limits().apply(posix);
            PrivilegeDrop.dropTo(posix, arguments.identity());
            PrivilegeDrop.verify(posix, arguments.identity());
            if (root && !createTemporaryDirectory(arguments, stderr))
                return;
        }
        catch (PrivilegeException x)
        {
            exit(stderr, x.exitStatus(), x.getMessage());
            return;
        }
        catch (IOException x)
        {
            exit(stderr, WorkerExit.DROP_FAILED, x.getMessage());
            return;
        }

        Server server;
        PipeConnector connector;
        try
        {
            server = newServer(arguments.app(), arguments.handlerClass(), arguments.deploySettings());
            configureSessions(server, arguments, stderr);
            connector = newConnector(server, protocolIn, Channels.newOutputStream(protocolOut));
            connector.setDirectOutput(protocolOut, protocolRoom);
            server.addConnector(connector);
            // Jetty starts connectors after handlers: the front hears from us only once the app is deployed.
            server.start();
        }
        catch (Throwable x)
        {
            x.printStackTrace(stderr);
            exit(stderr, WorkerExit.DEPLOY_FAILED, "deploy of " + arguments.app() + " failed: " + describe(x));
            return;
        }

        connector.getClosed().join();
        try
        {
            server.stop();
        }
        catch (Exception x)
        {
            x.printStackTrace(stderr);
        }
        System.exit(0);
    }

    /**
     * <p>Creates {@code java.io.tmpdir} ({@code HOME/tmp}, where {@code TMPDIR} points too), mode 0700, unless it
     * exists: the front never creates anything in the tenant's {@code HOME}, so the worker does, as the tenant.</p>
     *
     * @return false if it could not, after exiting with {@link WorkerExit#DEPLOY_FAILED}
     */
    private static boolean createTemporaryDirectory(WorkerArguments arguments, PrintStream stderr)
    {
        Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
        try
        {
            Files.createDirectories(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            return true;
        }
        catch (IOException | RuntimeException x)
        {
            stderr.println("jetty-itk worker " + arguments.vhost() + ": cannot create its temporary directory " + tmp + ": " + x);
            System.exit(WorkerExit.DEPLOY_FAILED);
            return false;
        }
    }

    /**
     * @return whether the effective uid is 0, as {@code /proc/self/status} says: jnr-posix is not loaded yet
     */
    private static boolean runsAsRoot()
    {
        try
        {
            for (String line : Files.readAllLines(PROC_STATUS))
            {
                if (line.startsWith("Uid:"))
                    return "0".equals(line.substring("Uid:".length()).trim().split("\\s+")[1]);
            }
        }
        catch (IOException | RuntimeException x)
        {
            // Not Linux's procfs: take the careful side, create it only after the drop.
        }
        return true;
    }

    /**
     * Duplicates fd 1 for the protocol and points fd 1 at stderr, so that even native code or a
     * {@code new FileOutputStream(FileDescriptor.out)} in tenant code cannot write into the protocol.
     */
    private static int reserveProtocolFd(Posix posix) throws IOException
    {
        int protocolFd = posix.dup(1);
        posix.dup2(2, 1);
        return protocolFd;
    }

    /**
     * Gives both protocol pipes {@link Wire#PIPE_CAPACITY}, or the system's maximum when lower, unless the front did
     * already. A pipe the kernel will not enlarge (its creator, the front's user, holds more than
     * {@code pipe-user-pages-soft}) keeps its size: the worker is slower, not broken, and says so in the vhost's
     * log.
     */
    private static void enlargePipes(Posix posix, int protocolFd, PrintStream log)
    {
        int capacity = Wire.PIPE_CAPACITY;
        try
        {
            // Line by line: Files.readString() gets only the first byte of this sysctl file.
            String max = Files.readAllLines(PIPE_MAX_SIZE).stream().findFirst().orElse("");
            capacity = Math.min(capacity, Integer.parseInt(max.trim()));
        }
        catch (IOException | NumberFormatException x)
        {
            // Not Linux's procfs as expected: ask for ours, and let the kernel say no.
        }
        for (int fd : new int[]{0, protocolFd})
        {
            try
            {
                // The front, as root, may have given more already: never shrink it.
                if (posix.pipeCapacity(fd) < capacity)
                    posix.setPipeCapacity(fd, capacity);
            }
            catch (IOException x)
            {
                log.println("jetty-itk worker: protocol pipe keeps its size: " + x.getMessage());
            }
        }
    }

    /**
     * <p>Puts the worker's threads under {@code SCHED_BATCH}: the front comes first. Every request and response
     * crosses the front, and each pipe write wakes a thread on the other side; a woken worker thread that
     * preempted the front's thread relaying another response stalled every response behind it. Under
     * {@code SCHED_BATCH} the worker's threads still get their fair share of the CPU (their nice value
     * stands), but take it when the running thread's turn ends, not by preempting it. When a CPU is idle they
     * run at once, as before.</p>
     * <p>A performance setting, not a limit: the tenant may set its threads back. A kernel that refuses it
     * leaves the worker as it was, and the vhost's log says so.</p>
     */
    private static void scheduleAsBatch(Posix posix, PrintStream log)
    {
        try
        {
            posix.setBatchScheduling();
        }
        catch (IOException x)
        {
            log.println("jetty-itk worker: scheduling policy unchanged: " + x.getMessage());
        }
    }

    /**
     * @return the bytes the protocol pipe takes now without blocking: its capacity less what the front has not
     * read yet, less an eighth of the capacity, 0 when the kernel will not say. The margin: the kernel keeps a
     * pipe's bytes in pages, and the first, partly read, and the last, partly written, hold less than a page;
     * every other one is full. An eighth of a pipe is two of its pages at least (a pipe has 16 or more).
     */
    private static IntSupplier roomOf(Posix posix, int protocolFd) throws IOException
    {
        int capacity = posix.pipeCapacity(protocolFd);
        int margin = capacity / 8;
        return () ->
        {
            try
            {
                return capacity - margin - posix.pipeQueued(protocolFd);
            }
            catch (IOException x)
            {
                return 0;
            }
        };
    }

    static Server newServer(String appLocation, String handlerClass, Map<String, String> deploySettings) throws Exception
    {
        QueuedThreadPool threads = new QueuedThreadPool(MAX_THREADS);
        threads.setName("itk-worker");
        Server server = new Server(threads);
        Handler app = AppDeployer.newHandler(server, appLocation, handlerClass, deploySettings);
        server.setHandler(app);
        // What a plain Jetty base answers outside its contexts, such as OPTIONS *; nothing it would not show.
        DefaultHandler defaultHandler = new DefaultHandler();
        defaultHandler.setServeFavIcon(false);
        defaultHandler.setShowContexts(false);
        server.setDefaultHandler(defaultHandler);
        server.setStopTimeout(5000);
        // SIGTERM from the front (a worker that stops with WebSockets open) stops the server gracefully: its
        // WebSocket containers close their sessions with 1001 while the pipe still carries them.
        server.setStopAtShutdown(true);
        return server;
    }

    /**
     * Gives the app the vhost's session store ({@link WorkerSessions}), in the worker's home: after the drop, so
     * that the tenant's uid creates and writes its session files, and before the app starts. A store that cannot
     * be set up fails the worker rather than let it lose its users' sessions in silence.
     */
    private static void configureSessions(Server server, WorkerArguments arguments, PrintStream stderr)
    {
        String home = System.getProperty("user.home", "");
        try
        {
            if (!home.startsWith("/"))
                throw new IllegalStateException("the worker's user.home is not an absolute path: " + home);
            WorkerSessions.configure(server, arguments.sessionStore(), arguments.vhost(), Path.of(home));
        }
        catch (Throwable x)
        {
            x.printStackTrace(stderr);
            exit(stderr, WorkerExit.DEPLOY_FAILED, "session store " + arguments.sessionStore() + " failed: " + describe(x));
        }
    }

    static PipeConnector newConnector(Server server, InputStream input, OutputStream output)
    {
        HttpConfiguration config = new HttpConfiguration();
        // Server and Date as a plain Jetty sends them, so that its error pages say "Powered by" and its interim
        // responses carry them; the front gives a final response its own instead.
        config.setSendServerVersion(true);
        config.setSendDateHeader(true);
        config.setRequestHeaderSize(Wire.WORKER_MAX_REQUEST_HEADERS_SIZE);
        // The front's connector already judged the client's Host against an absolute-form target, by the compliance
        // the admin chose; the worker sees both (:authority and the client's Host) and must not judge again.
        config.setHttpCompliance(HttpCompliance.from(HttpCompliance.RFC9110.getName() + "," + HttpCompliance.Violation.MISMATCHED_AUTHORITY.name()));
        config.addCustomizer(new ConnectionFactsCustomizer());
        return new PipeConnector(server, input, output, newConnectionFactory(config));
    }

    /**
     * Tells the front why this worker cannot start, on the line it recognises, and exits with {@code status}.
     */
    static void exit(PrintStream stderr, int status, String reason)
    {
        String line = WorkerExit.cut(String.valueOf(reason).replaceAll("[\\r\\n\\t]+", " "));
        stderr.println(WorkerExit.FAILURE_PREFIX + line);
        stderr.flush();
        System.exit(status);
    }

    /**
     * @return the failure and its first cause, which is often the one that says what went wrong (a
     * {@code MultiException} or {@code UnavailableException} wrapping the app's own)
     */
    static String describe(Throwable failure)
    {
        Throwable cause = failure.getCause();
        return cause == null || cause == failure ? failure.toString() : failure + ", caused by " + cause;
    }

    /**
     * <p>HTTP/2 on the worker's side of the pipe, with the limits of {@code docs/protocol.md} ({@link Wire#configureWorker}).</p>
     * <p>No rate control: the worker's only peer is the front, which limits the clients itself. Jetty's, made for
     * clients, counts the WINDOW_UPDATE frames that arrive for a stream the worker has just ended, which the front
     * sends whenever it consumes a response's last bytes after the worker closed the stream: a busy vhost of large
     * responses sends more than its 128 a second, and Jetty ended the session as a flood.</p>
     */
    public static HTTP2CServerConnectionFactory newConnectionFactory(HttpConfiguration config)
    {
        HTTP2CServerConnectionFactory h2c = new TunnelDispatchingConnectionFactory(config);
        Wire.configureWorker(h2c);
        // WebSockets from the front arrive as RFC 8441 extended CONNECT streams.
        h2c.setConnectProtocolEnabled(true);
        setUnlimitedRateControl(h2c);
        return h2c;
    }

    /**
     * <p>Jetty's h2c, except that data for a tunnel (the extended CONNECT stream of a WebSocket) reaches the
     * tenant's endpoint on a thread of the pool. Jetty hands it over inline, in the one thread that parses the
     * whole pipe: an endpoint that blocks there (a blocking send larger than the flow-control window waits for a
     * WINDOW_UPDATE that only this thread would parse) stalled every stream of the worker, for good. And a
     * tunnel's stream leaves the session once closed.</p>
     */
    private static class TunnelDispatchingConnectionFactory extends HTTP2CServerConnectionFactory
    {
        private TunnelDispatchingConnectionFactory(HttpConfiguration config)
        {
            super(config);
        }

        @Override
        protected ServerSessionListener newSessionListener(Connector connector, EndPoint endPoint)
        {
            return new TunnelDispatchingListener(endPoint, connector.getExecutor());
        }

        private class TunnelDispatchingListener extends HTTPServerSessionListener
        {
            private final Executor executor;

            private TunnelDispatchingListener(EndPoint endPoint, Executor executor)
            {
                super(endPoint);
                this.executor = executor;
            }

            @Override
            public void onDataAvailable(Stream stream, boolean immediate)
            {
                if (isTunnel(stream))
                    executor.execute(() -> super.onDataAvailable(stream, immediate));
                else
                    super.onDataAvailable(stream, immediate);
            }

            @Override
            public void onClosed(Stream stream)
            {
                // Jetty's tunnel EndPoint closes its stream without removing it from the session when the front's
                // END_STREAM is still unread (the WebSocket closed first): the session kept it for good, and with
                // it never ended on GOAWAY and EOF. Removing a stream already removed does nothing.
                super.onClosed(stream);
                if (isTunnel(stream) && stream.getSession() instanceof HTTP2Session session)
                    session.removeStream(stream);
            }
        }

        private static boolean isTunnel(Stream stream)
        {
            return stream instanceof Attachable attachable && attachable.getAttachment() instanceof EndPoint;
        }
    }

    /**
     * Gives the connection factory Jetty's rate control with no limit. It keeps a timestamp per event for one
     * second, and the front sends at most one late update per response. The setter is called by name: it takes
     * {@code org.eclipse.jetty.http2.RateControl.Factory} in Jetty 12.1.5 (the distribution's) and
     * {@code org.eclipse.jetty.io.RateControl.Factory} in 12.1.14, and the worker runs on the Jetty it is
     * installed with. Jetty's {@code WindowRateControl.Factory} is both.
     */
    private static void setUnlimitedRateControl(HTTP2CServerConnectionFactory h2c)
    {
        Object unlimited = new WindowRateControl.Factory(Integer.MAX_VALUE);
        for (Method method : h2c.getClass().getMethods())
        {
            if (method.getName().equals("setRateControlFactory") && method.getParameterCount() == 1 && method.getParameterTypes()[0].isInstance(unlimited))
            {
                try
                {
                    method.invoke(h2c, unlimited);
                    return;
                }
                catch (ReflectiveOperationException x)
                {
                    throw new IllegalStateException("cannot set the rate control of " + h2c, x);
                }
            }
        }
        throw new IllegalStateException("no setRateControlFactory taking " + unlimited.getClass().getName() + " in " + h2c.getClass().getName());
    }
}
