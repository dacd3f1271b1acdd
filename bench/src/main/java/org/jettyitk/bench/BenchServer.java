package org.jettyitk.bench;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;

import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.jettyitk.ItkHandler;
import org.jettyitk.VirtualHost;
import org.jettyitk.bench.app.BenchApp;
import org.jettyitk.internal.launch.WorkerClassPath;

/**
 * <p>One server of the benchmark, in its own JVM: either plain Jetty serving {@link BenchApp} in-process, or a
 * jetty-itk front whose vhosts run {@link BenchApp} in workers, as numeric uids, loaded from each tenant's own
 * directory. Both use the same connector (HTTP/1.1 and h2c on 127.0.0.1) and the same default thread pool.</p>
 * <pre>
 *   BenchServer plain --port 18080 --base /tmp/b/plain
 *   BenchServer itk   --port 18081 --base /tmp/b/itk [--vhosts 50] [--first-uid 42001] [--worker-jvm-options "..."]
 * </pre>
 * <p>itk: vhost {@code i} is named {@code v<uid>}, answers {@code v<uid>.bench}, runs as uid and gid
 * {@code first-uid + i} with no supplementary group; the first vhost is also the default vhost, so a client
 * needs no {@code Host} header to reach it. Each tenant's app directory holds {@code classes/} (the
 * {@code org.jettyitk.bench.app} classes, copied there) and {@code www/1mb.bin}, all owned by the tenant; the
 * worker class path is the front's without the bench's own classes, so the worker loads the app from the
 * tenant's directory as a real tenant's code would be.</p>
 * <p>Prints {@code READY port=N pid=P} on stdout once it serves. SIGTERM stops it (and, for itk, its
 * workers) gracefully.</p>
 */
public final class BenchServer
{
    public static final String READY = "READY";
    public static final int DEFAULT_FIRST_UID = 42001;
    public static final String HOST_SUFFIX = ".bench";

    private BenchServer()
    {
    }

    public static void main(String[] args) throws Exception
    {
        if (args.length < 1)
            usage("missing mode");
        String mode = args[0];
        int port = 0;
        Path base = null;
        int vhosts = 1;
        int firstUid = DEFAULT_FIRST_UID;
        String workerJvmOptions = null;
        String frontUser = null;
        for (int i = 1; i < args.length; i += 2)
        {
            if (i + 1 >= args.length)
                usage("option without value: " + args[i]);
            String value = args[i + 1];
            switch (args[i])
            {
                case "--port" -> port = Integer.parseInt(value);
                case "--base" -> base = Path.of(value);
                case "--vhosts" -> vhosts = Integer.parseInt(value);
                case "--first-uid" -> firstUid = Integer.parseInt(value);
                case "--worker-jvm-options" -> workerJvmOptions = value;
                case "--front-user" -> frontUser = value;
                default -> usage("unknown option " + args[i]);
            }
        }
        if (base == null)
            usage("--base DIR is required");

        Handler handler = switch (mode)
        {
            case "plain" -> newPlainApp(base);
            case "itk" -> newItkFront(base, vhosts, firstUid, workerJvmOptions, frontUser);
            default ->
            {
                usage("unknown mode " + mode);
                yield null;
            }
        };
        Server server = newServer(port, handler);
        server.start();
        int localPort = ((ServerConnector)server.getConnectors()[0]).getLocalPort();
        System.out.println(READY + " port=" + localPort + " pid=" + ProcessHandle.current().pid());
        System.out.flush();
        server.join();
    }

    private static void usage(String problem)
    {
        System.err.println("BenchServer: " + problem);
        System.err.println("usage: BenchServer plain|itk --port N --base DIR [--vhosts N] [--first-uid UID] [--worker-jvm-options OPTS] [--front-user UID]");
        System.exit(64);
    }

    static Server newServer(int port, Handler handler)
    {
        QueuedThreadPool threads = new QueuedThreadPool();
        threads.setName("bench-server");
        Server server = new Server(threads);
        HttpConfiguration config = new HttpConfiguration();
        ServerConnector connector = new ServerConnector(server, new HttpConnectionFactory(config), new HTTP2CServerConnectionFactory(config));
        connector.setHost("127.0.0.1");
        connector.setPort(port);
        // ab -n 1000 -c 1 opens a connection per request: keep the accept queue as deep as the kernel allows.
        connector.setAcceptQueueSize(1024);
        server.addConnector(connector);
        server.setHandler(handler);
        server.setStopAtShutdown(true);
        server.setStopTimeout(10_000);
        return server;
    }

    private static Handler newPlainApp(Path base) throws IOException
    {
        Path www = base.resolve(BenchApp.STATIC_DIRECTORY);
        BenchApp.writeStaticFile(www);
        return new BenchApp(www);
    }

    private static Handler newItkFront(Path base, int vhosts, int firstUid, String workerJvmOptions, String frontUser) throws Exception
    {
        Files.createDirectories(base);
        // Tenants traverse base to reach their own directory.
        Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwx--x--x"));
        Path appClasses = codeSource(BenchApp.class);

        ItkHandler itk = new ItkHandler();
        itk.setSpawnTimeoutMillis(120_000);
        if (frontUser != null)
        {
            itk.setFrontUser(frontUser);
            itk.setFrontGroup(frontUser);
        }
        if (workerJvmOptions != null)
            itk.setWorkerJvmOptionString(workerJvmOptions);
        itk.setWorkerClassPath(WorkerClassPath.readableByAll(withoutEntry(System.getProperty("java.class.path"), appClasses), base));
        for (int i = 0; i < vhosts; i++)
        {
            int uid = firstUid + i;
            String name = "v" + uid;
            Path app = base.resolve("apps").resolve(name);
            copyAppClasses(appClasses, app.resolve(BenchApp.CLASSES_DIRECTORY));
            BenchApp.writeStaticFile(app.resolve(BenchApp.STATIC_DIRECTORY));
            chownTree(app, uid);
            Files.setPosixFilePermissions(app, PosixFilePermissions.fromString("rwx--x---"));

            VirtualHost vhost = new VirtualHost(name);
            vhost.setHostNames(name + HOST_SUFFIX);
            vhost.setUser(Integer.toString(uid));
            vhost.setGroup(Integer.toString(uid));
            vhost.setGroups();
            vhost.setApp(app.toString());
            vhost.setHandlerClass(BenchApp.class.getName());
            itk.addVirtualHost(vhost);
            if (i == 0)
                itk.setDefaultVirtualHost(name);
        }
        return itk;
    }

    static Path codeSource(Class<?> type) throws URISyntaxException
    {
        return Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI()).toAbsolutePath().normalize();
    }

    private static String withoutEntry(String classPath, Path excluded)
    {
        List<String> kept = new ArrayList<>();
        for (String entry : classPath.split(File.pathSeparator))
        {
            if (!entry.isEmpty() && !Path.of(entry).toAbsolutePath().normalize().equals(excluded))
                kept.add(entry);
        }
        return String.join(File.pathSeparator, kept);
    }

    /**
     * Copies the classes of the {@code org.jettyitk.bench.app} package, from a directory or a jar, into a
     * tenant's {@code classes/}.
     */
    private static void copyAppClasses(Path from, Path to) throws IOException
    {
        String packagePath = BenchApp.class.getPackageName().replace('.', '/');
        if (Files.isDirectory(from))
        {
            Path source = from.resolve(packagePath);
            try (Stream<Path> files = Files.walk(source))
            {
                for (Path file : files.filter(Files::isRegularFile).toList())
                {
                    Path target = to.resolve(from.relativize(file).toString());
                    Files.createDirectories(target.getParent());
                    Files.copy(file, target);
                }
            }
            return;
        }
        try (JarFile jar = new JarFile(from.toFile()))
        {
            for (JarEntry entry : jar.stream().toList())
            {
                if (entry.isDirectory() || !entry.getName().startsWith(packagePath + "/"))
                    continue;
                Path target = to.resolve(entry.getName());
                Files.createDirectories(target.getParent());
                try (InputStream in = jar.getInputStream(entry))
                {
                    Files.copy(in, target);
                }
            }
        }
    }

    private static void chownTree(Path root, int id) throws IOException
    {
        try (Stream<Path> tree = Files.walk(root))
        {
            for (Path path : tree.toList())
            {
                Files.setAttribute(path, "unix:uid", id);
                Files.setAttribute(path, "unix:gid", id);
            }
        }
    }
}
