package org.jettyitk.internal.front;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.http.HttpTokens;
import org.eclipse.jetty.http.MetaData;
import org.eclipse.jetty.http2.ErrorCode;
import org.eclipse.jetty.http2.HTTP2Session;
import org.eclipse.jetty.http2.api.Session;
import org.eclipse.jetty.http2.api.Stream;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.frames.GoAwayFrame;
import org.eclipse.jetty.http2.frames.HeadersFrame;
import org.eclipse.jetty.http2.frames.PingFrame;
import org.eclipse.jetty.http2.frames.SettingsFrame;
import org.eclipse.jetty.http2.hpack.HpackException;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Promise;
import org.eclipse.jetty.util.component.Dumpable;
import org.eclipse.jetty.util.component.DumpableCollection;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jettyitk.internal.launch.WorkerProcess;
import org.jettyitk.internal.pipe.PipeEndPoint;
import org.jettyitk.internal.pipe.PipeTransport;
import org.jettyitk.internal.posix.Identity;
import org.jettyitk.internal.wire.Wire;
import org.jettyitk.internal.wire.WorkerExit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>The front's side of one worker process: the process, its pipe {@link PipeEndPoint}, the HTTP/2 session
 * over it, and the exchanges in flight.</p>
 * <pre>
 *   SPAWNING ──SETTINGS received──▶ READY ──stop()──▶ STOPPING ──drained: GOAWAY, EOF──▶ exit ──▶ EXITED
 *      │                              │                    │
 *      └──exit, timeout, violation────┴────────────────────┴───────kill───────────────────────▶ EXITED
 * </pre>
 * <p>Kills: no SETTINGS within the spawn timeout; a protocol violation ({@link WorkerOutputRules},
 * {@link WorkerFrameGuard}: frames the front never opened, wasted frames over their budget, too many frames queued
 * toward the worker); a stdin that takes nothing for the pool's write-stall timeout ({@link #checkOutput}); no exit
 * within the exit timeout of a stop, counted from the GOAWAY whether or not a worker that does not read let it be
 * written.</p>
 * <p>Every exit is classified (status or signal, expected or not) and logged with vhost, pid, uid and lifetime.
 * When the process exits, every exchange still in flight fails (502, or an aborted client stream when already
 * committed), and the pool is told so that the next request gets a fresh worker.</p>
 */
public class Worker implements Dumpable
{
    private static final Logger LOG = LoggerFactory.getLogger(Worker.class);
    /** Longest line of the worker's stderr kept as one log line; longer lines are split. */
    public static final int MAX_LOG_LINE = 8192;
    /** How long a worker has to answer the PING sent when one of its requests timed out. */
    public static final long PING_TIMEOUT_MILLIS = 2000;
    /**
     * How long the exit of a worker waits for the last lines of its stderr, which a child may hold open, and for
     * the connection to read its last frames.
     */
    public static final long LOG_DRAIN_MILLIS = 1000;
    /** Exit status of a JVM that ended on SIGTERM, as Java reports it. */
    static final int EXIT_SIGTERM = 128 + 15;

    public enum State
    {
        SPAWNING, READY, STOPPING, EXITED
    }

    private final WorkerPool pool;
    private final Process process;
    private final Identity identity;
    private final PipeEndPoint endPoint;
    private final CompletableFuture<Worker> ready = new CompletableFuture<>();
    private final CompletableFuture<Void> drained = new CompletableFuture<>();
    private final Set<FrontExchange> exchanges = ConcurrentHashMap.newKeySet();
    private final Set<FrontTunnel> tunnels = ConcurrentHashMap.newKeySet();
    private final AtomicReference<State> state = new AtomicReference<>(State.SPAWNING);
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicLong requests = new AtomicLong();
    private final AtomicInteger highestStreamId = new AtomicInteger();
    private final long startNanos = System.nanoTime();
    private volatile long lastActiveNanos = startNanos;
    private final Logger tenantLog;
    private volatile Session session;
    private volatile String killReason;
    /** Set as soon as the session fails, closes or the worker is killed: no new request goes to it. */
    private volatile boolean broken;
    private volatile String startFailure;
    private final Thread logPump;
    private volatile boolean goneAway;
    /** Set when the front asked the worker to stop with SIGTERM, so that it closes its WebSockets itself. */
    private volatile boolean terminated;
    private final AtomicBoolean probing = new AtomicBoolean();
    private volatile long lastPingReplyNanos = startNanos;

    Worker(WorkerPool pool, Process process, Identity identity, HTTP2Client client, Scheduler scheduler, Duration spawnTimeout)
    {
        this.pool = pool;
        this.process = process;
        this.identity = identity;
        this.tenantLog = LoggerFactory.getLogger("org.jettyitk.worker." + pool.getName());
        String name = pool.getName() + "-" + process.pid();
        this.endPoint = new PipeEndPoint(scheduler, client.getExecutor(), process.getInputStream(), process.getOutputStream(), name);
        this.endPoint.setIdleTimeout(-1);
        this.endPoint.setInspector(new WorkerFrameGuard(new GuardedSession(), pool.getMaxWastedFramesPerSecond(), pool.getMaxQueuedFrames(), this::onProtocolViolation));
        openDirectOutput(endPoint, process);
        logPump = startLogPump(name);
        process.onExit().whenComplete((p, x) -> onExit());
        scheduler.schedule(this::onSpawnTimeout, spawnTimeout.toMillis(), TimeUnit.MILLISECONDS);
        client.connect(new PipeTransport(endPoint), null, endPoint.getRemoteSocketAddress(), new SessionListener(), Promise.from(s -> {}, this::onConnectFailure));
    }

    /**
     * Lets the front's threads write requests to the worker's stdin themselves, through the non-blocking
     * description of the pipe the launcher opened on the front's own end ({@link WorkerProcess#getDirectOutput()}):
     * a write takes what the pipe has room for, the EndPoint's writer the rest, so a worker that stops reading
     * never holds a thread of the front. Another process (a test's) goes through the writer alone.
     */
    private static void openDirectOutput(PipeEndPoint endPoint, Process process)
    {
        if (process instanceof WorkerProcess worker && worker.getDirectOutput() != null)
            endPoint.setDirectOutput(worker.getDirectOutput(), () -> Integer.MAX_VALUE);
        else if (process instanceof SpawnedProcess spawned && spawned.getDirectOutput() != null)
            endPoint.setDirectOutput(spawned.getDirectOutput(), () -> Integer.MAX_VALUE);
    }

    /**
     * @return a future completed with this worker once it dropped privileges, deployed its app and spoke
     * HTTP/2, or failed if it exited or timed out first
     */
    public CompletableFuture<Worker> ready()
    {
        return ready;
    }

    public long getPid()
    {
        return process.pid();
    }

    public State getState()
    {
        return state.get();
    }

    public int getInFlight()
    {
        return inFlight.get();
    }

    /**
     * @return the WebSocket tunnels open on this worker (not counted in {@link #getInFlight()})
     */
    public int getWebSockets()
    {
        return tunnels.size();
    }

    WorkerPool getPool()
    {
        return pool;
    }

    Scheduler getScheduler()
    {
        return pool.getScheduler();
    }

    Duration getRequestTimeout()
    {
        return pool.getRequestTimeout();
    }

    public long getRequests()
    {
        return requests.get();
    }

    /**
     * @return how long this worker has had no request in flight (zero while it has some)
     */
    public Duration getIdle()
    {
        return inFlight.get() > 0 || !tunnels.isEmpty() ? Duration.ZERO : Duration.ofNanos(System.nanoTime() - lastActiveNanos);
    }

    /**
     * @return the process's exit value (128 + signal for a death by signal); only once it has exited
     */
    int getExitValue()
    {
        return process.exitValue();
    }

    public Duration getUptime()
    {
        return Duration.ofNanos(System.nanoTime() - startNanos);
    }

    boolean isUsable()
    {
        return state.get() == State.READY && !broken && !endPoint.isOutputShutdown() && !endPoint.isInputShutdown();
    }

    void newStream(HeadersFrame headers, Promise<Stream> promise, FrontExchange exchange)
    {
        Session session = this.session;
        if (session == null || state.get() != State.READY)
        {
            promise.failed(new IOException("worker " + this + " not ready"));
            return;
        }
        exchanges.add(exchange);
        inFlight.incrementAndGet();
        lastActiveNanos = System.nanoTime();
        requests.incrementAndGet();
        // The process may have exited between the check above and the add: fail what onExit() missed.
        if (state.get() == State.EXITED)
        {
            promise.failed(new IOException("worker " + this + " exited"));
            return;
        }
        openStream(session, headers, promise, exchange);
    }

    /**
     * Opens the extended CONNECT stream of a WebSocket; the tunnel counts apart from the requests in flight, so
     * that a drain does not wait for it (see {@link #stop(Duration, Duration)}).
     */
    void newTunnelStream(HeadersFrame headers, Promise<Stream> promise, FrontTunnel tunnel)
    {
        Session session = this.session;
        if (session == null || state.get() != State.READY)
        {
            promise.failed(new IOException("worker " + this + " not ready"));
            return;
        }
        tunnels.add(tunnel);
        lastActiveNanos = System.nanoTime();
        requests.incrementAndGet();
        if (state.get() == State.EXITED)
        {
            promise.failed(new IOException("worker " + this + " exited"));
            return;
        }
        openStream(session, headers, promise, tunnel);
    }

    private void openStream(Session session, HeadersFrame headers, Promise<Stream> promise, Stream.Listener listener)
    {
        session.newStream(headers, Promise.from(promise::succeeded, x ->
        {
            // A session that cannot open a stream (closed, or a worker's SETTINGS allowing none) serves no
            // request again: never leave it in the pool to fail every request sent to it. HPACK refusing the
            // request's own fields, before it encoded any, is the request's failure and leaves the session whole.
            if (state.get() == State.READY && !(x instanceof HpackException.StreamException))
                kill("cannot open a stream: " + x);
            promise.failed(x);
        }), listener);
    }

    /**
     * <p>Checks, before a request goes on this worker's connection, what would make the front's HPACK encoder
     * fail there: a failure after it started encoding ends the whole session (its table would no longer match
     * the worker's), failing every stream of every client on it.</p>
     *
     * @param request the request as it will be sent
     * @return 0 if it can be sent, else the status to answer the client with: 431 when its header list exceeds
     * what the worker accepts, 400 when a field is not valid in HTTP/2
     */
    int checkEncodable(MetaData.Request request)
    {
        long size = fieldSize(HttpHeader.C_METHOD.asString(), request.getMethod()) +
            fieldSize(HttpHeader.C_AUTHORITY.asString(), request.getHttpURI().getAuthority()) +
            fieldSize(HttpHeader.C_SCHEME.asString(), request.getHttpURI().getScheme()) +
            fieldSize(HttpHeader.C_PATH.asString(), request.getHttpURI().getPathQuery()) +
            MAX_CONTENT_LENGTH_FIELD_SIZE;
        for (HttpField field : request.getHttpFields())
        {
            String name = field.getLowerCaseName();
            if (name.startsWith(":") || !HttpTokens.isLegalH2H3FieldName(name) || !HttpTokens.isLegalFieldValue(field.getValue()))
                return HttpStatus.BAD_REQUEST_400;
            size += fieldSize(name, field.getValue());
        }
        int max = maxHeaderListSize();
        return max > 0 && size > max ? HttpStatus.REQUEST_HEADER_FIELDS_TOO_LARGE_431 : 0;
    }

    /** The size of the largest {@code content-length} the encoder may add. */
    private static final long MAX_CONTENT_LENGTH_FIELD_SIZE = fieldSize(HttpHeader.CONTENT_LENGTH.asString(), Long.toString(Long.MAX_VALUE));

    private static long fieldSize(String name, String value)
    {
        // RFC 7541 section 4.1, as Jetty's encoder counts it.
        return name.length() + (value == null ? 0 : value.length()) + 32L;
    }

    private int maxHeaderListSize()
    {
        // What the encoder of this session enforces (0: nothing), from the worker's SETTINGS_MAX_HEADER_LIST_SIZE.
        if (session instanceof HTTP2Session http2Session)
            return http2Session.getGenerator().getHpackEncoder().getMaxHeaderListSize();
        return 0;
    }

    /**
     * <p>A request to this worker timed out: asks the worker for a PING reply. A worker whose output can no
     * longer be parsed (a frame that claims bytes that never come) answers nothing, times out every request and
     * would never be replaced: without a reply within {@link #PING_TIMEOUT_MILLIS} it is killed.</p>
     */
    void onRequestTimeout()
    {
        Session session = this.session;
        if (session == null || state.get() != State.READY || !probing.compareAndSet(false, true))
            return;
        long sentNanos = System.nanoTime();
        session.ping(new PingFrame(sentNanos, false), Callback.NOOP);
        pool.getScheduler().schedule(() ->
        {
            probing.set(false);
            if (lastPingReplyNanos - sentNanos < 0 && state.get() == State.READY)
                kill("no PING reply within " + PING_TIMEOUT_MILLIS + "ms after a request timeout");
        }, PING_TIMEOUT_MILLIS, TimeUnit.MILLISECONDS);
    }

    /**
     * Called as the front creates a stream, before its HEADERS are written.
     */
    void onStreamOpened(int streamId)
    {
        highestStreamId.accumulateAndGet(streamId, Math::max);
    }

    void onExchangeComplete(FrontExchange exchange)
    {
        if (exchange != null && exchanges.remove(exchange))
        {
            lastActiveNanos = System.nanoTime();
            inFlight.decrementAndGet();
        }
        if (state.get() == State.STOPPING && inFlight.get() == 0)
            drained.complete(null);
    }

    void onTunnelComplete(FrontTunnel tunnel)
    {
        if (tunnels.remove(tunnel))
            lastActiveNanos = System.nanoTime();
    }

    /**
     * A worker sent something the front does not accept: a connection error, so it is killed.
     */
    void onProtocolViolation(String violation)
    {
        kill("protocol violation: " + violation);
        // Not one more byte of this worker reaches the parser, and its streams fail now.
        endPoint.close(new ItkProtocolException(violation));
    }

    /**
     * Kills the process at once (SIGKILL); its exchanges fail when the exit is seen.
     */
    void kill(String reason)
    {
        broken = true;
        if (state.get() == State.EXITED)
            return;
        if (killReason == null)
            killReason = reason;
        LOG.warn("killing worker vhost={} pid={}: {}", pool.getName(), process.pid(), reason);
        process.destroyForcibly();
    }

    /**
     * <p>Stops gracefully: no new request is given to this worker; once the requests in flight have completed
     * (or after {@code drainTimeout}) the front sends GOAWAY and EOF on the worker's stdin, on which the worker
     * stops its server and exits; if it has not exited {@code exitTimeout} later, it is killed.</p>
     * <p>WebSockets do not hold the drain: they may last for hours. If some are open once the requests drained, the
     * front sends the worker SIGTERM instead, while its pipe still works both ways: the worker stops its server,
     * whose WebSocket containers close every session with 1001 (going away) through the tunnels, the clients
     * answer, and the worker exits. A session still opening when the stop begins is not closed so: it ends with
     * its stream when the stopping server's connection times out (1006 for the client), as on a plain Jetty.</p>
     *
     * @return a future completed with the process once it has exited
     */
    CompletableFuture<Process> stop(Duration drainTimeout, Duration exitTimeout)
    {
        State previous = state.getAndUpdate(s -> s == State.EXITED ? s : State.STOPPING);
        if (previous == State.EXITED)
            return process.onExit();
        if (previous == State.SPAWNING)
            ready.completeExceptionally(new IOException("worker for vhost " + pool.getName() + " stopped before ready"));
        onExchangeComplete(null);
        return drained.completeOnTimeout(null, drainTimeout.toMillis(), TimeUnit.MILLISECONDS)
            .thenCompose(ignored ->
            {
                // The exit timer starts with the GOAWAY (or the SIGTERM), not once it is written: a worker that does
                // not read its stdin never lets that write complete, and would never be killed.
                if (tunnels.isEmpty())
                    closePipe();
                else
                    terminate();
                return process.onExit().completeOnTimeout(null, exitTimeout.toMillis(), TimeUnit.MILLISECONDS);
            })
            .thenCompose(exited ->
            {
                if (exited != null)
                    return CompletableFuture.completedFuture(exited);
                kill("did not exit within " + exitTimeout.toMillis() + "ms of its stop");
                return process.onExit();
            });
    }

    private void terminate()
    {
        terminated = true;
        LOG.info("worker stopping vhost={} pid={}: SIGTERM to close its {} WebSockets", pool.getName(), process.pid(), tunnels.size());
        // Through the handle: Process.destroy() would also close the pipes the WebSockets still need.
        process.toHandle().destroy();
    }

    private void closePipe()
    {
        // GOAWAY first, then EOF: the worker stops its server and exits.
        Session session = this.session;
        if (session == null || !session.close(ErrorCode.NO_ERROR.code, "stopping", Callback.from(endPoint::shutdownOutput, x -> endPoint.shutdownOutput())))
            endPoint.shutdownOutput();
    }

    /**
     * <p>Called every second or so by the pool: kills this worker if its stdin has taken nothing for longer than
     * {@code writeStallTimeout} (a worker that stopped reading), or if the front's session holds more than
     * {@code maxQueuedFrames} frames toward it. Both bound what a worker can make the front hold when it sends
     * nothing the frame guard would see.</p>
     */
    void checkOutput(Duration writeStallTimeout, int maxQueuedFrames)
    {
        if (state.get() == State.EXITED)
            return;
        long stalled = endPoint.getWriteStalledNanos();
        if (!writeStallTimeout.isZero() && stalled > writeStallTimeout.toNanos())
        {
            kill("not reading: stdin took nothing for " + TimeUnit.NANOSECONDS.toMillis(stalled) + "ms > " + writeStallTimeout.toMillis() + "ms, " + getQueuedBytes() + " bytes and " + getQueuedFrames() + " frames queued");
            return;
        }
        int queued = getQueuedFrames();
        if (queued > maxQueuedFrames)
            kill("not reading: " + queued + " frames queued toward the worker > max " + maxQueuedFrames);
    }

    /**
     * @return why the front killed this worker, or null
     */
    public String getKillReason()
    {
        return killReason;
    }

    /**
     * @return the frames the front's HTTP/2 session has queued toward this worker and not yet handed to its pipe
     */
    public int getQueuedFrames()
    {
        Session session = this.session;
        return session instanceof HTTP2Session http2 ? http2.getFrameQueueSize() : 0;
    }

    /**
     * @return the bytes handed to this worker's pipe and not yet written to it
     */
    public int getQueuedBytes()
    {
        return endPoint.getQueuedBytes();
    }

    private void onSpawnTimeout()
    {
        if (!ready.isDone())
        {
            ready.completeExceptionally(new TimeoutException("worker for vhost " + pool.getName() + " not ready within spawn timeout"));
            kill("not ready within spawn timeout");
        }
    }

    private void onConnectFailure(Throwable failure)
    {
        ready.completeExceptionally(failure);
        kill("pipe connect failed: " + failure);
    }

    private void onExit()
    {
        // The worker's last stderr lines (why it could not start) may still be in the pipe: read them first.
        // So may its last frames (a WebSocket's close, sent as its server stopped): let the connection read them
        // up to the pipe's end before the exchanges and tunnels left are failed.
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(LOG_DRAIN_MILLIS);
        try
        {
            logPump.join(LOG_DRAIN_MILLIS);
            while (!endPoint.isInputShutdown() && System.nanoTime() - deadline < 0)
            {
                Thread.sleep(10);
            }
        }
        catch (InterruptedException x)
        {
            Thread.currentThread().interrupt();
        }
        State previous = state.getAndSet(State.EXITED);
        int status = process.exitValue();
        // A stopped worker killed past its exit timeout is logged as unexpected but is no crash of the tenant.
        // A worker that said GOAWAY (a graceful server stop sends it both ways) and then exited 0 stopped normally.
        boolean expected = (previous == State.STOPPING || goneAway) && (status == 0 || terminated && status == EXIT_SIGTERM);
        String how = WorkerExit.describe(status);
        Duration lifetime = getUptime();
        if (expected)
            LOG.info("worker exited vhost={} pid={} uid={} {} lifetime={}ms requests={}", pool.getName(), process.pid(), identity.uid(), how, lifetime.toMillis(), requests.get());
        else
            LOG.warn("worker exited unexpectedly vhost={} pid={} uid={} {} lifetime={}ms requests={} reason={}", pool.getName(), process.pid(), identity.uid(), how, lifetime.toMillis(), requests.get(), getFailure());
        ready.completeExceptionally(new IOException("worker for vhost " + pool.getName() + " exited before ready: " + how + (startFailure == null ? "" : ": " + startFailure)));
        endPoint.close();
        IOException failure = new IOException("worker " + process.pid() + " of vhost " + pool.getName() + " exited: " + how);
        for (FrontExchange exchange : exchanges)
        {
            exchange.fail(failure);
        }
        for (FrontTunnel tunnel : tunnels)
        {
            tunnel.fail(failure);
        }
        pool.onWorkerExit(this, expected || previous == State.STOPPING);
    }

    /**
     * @return why this worker failed: the reason it gave for not starting ({@link WorkerExit#FAILURE_PREFIX}), else
     * why the front killed it, else null
     */
    public String getFailure()
    {
        String failure = startFailure;
        return failure != null ? failure : killReason;
    }

    private Thread startLogPump(String name)
    {
        Thread pump = new Thread(() -> pumpLog(process.getErrorStream()), "itk-worker-log-" + name);
        pump.setDaemon(true);
        pump.start();
        return pump;
    }

    private void pumpLog(InputStream stderr)
    {
        // Bounded line buffer: a tenant printing one endless line must not grow the front's memory.
        byte[] line = new byte[MAX_LOG_LINE];
        int length = 0;
        byte[] chunk = new byte[4096];
        try (stderr)
        {
            int read;
            while ((read = stderr.read(chunk)) >= 0)
            {
                for (int i = 0; i < read; i++)
                {
                    byte b = chunk[i];
                    if (b == '\n' || length == line.length)
                    {
                        logLine(line, length);
                        length = 0;
                        if (b == '\n')
                            continue;
                    }
                    line[length++] = b;
                }
            }
            if (length > 0)
                logLine(line, length);
        }
        catch (IOException x)
        {
            LOG.trace("IGNORED", x);
        }
    }

    private void logLine(byte[] line, int length)
    {
        String text = new String(line, 0, length, StandardCharsets.UTF_8);
        // Only a worker that is not ready yet says why it cannot start; later, tenant code could say anything.
        if (text.startsWith(WorkerExit.FAILURE_PREFIX) && state.get() == State.SPAWNING)
            startFailure = WorkerExit.cut(text.substring(WorkerExit.FAILURE_PREFIX.length()));
        TenantLog file = pool.getTenantLog();
        if (file != null)
            file.write(process.pid(), text);
        else
            // Jetty's console logger shows a tab as '?': stack traces would lose their indentation.
            tenantLog.info("[{}] {}", process.pid(), text.replace("\t", "    "));
    }

    /**
     * <p>The threads this worker holds in the front, each with its state: its pipe's reader and writer
     * ({@link PipeEndPoint}: a pipe is read and written with blocking calls, see {@code docs/protocol.md}) and the
     * pump of its stderr into the vhost's log. A worker that stops reading its stdin shows as a writer in
     * {@code RUNNABLE} (blocked in the kernel's write) for as long as it does.</p>
     *
     * @return one line a thread: its name and state, such as {@code itk-pipe-reader-alice-1234 RUNNABLE}
     */
    public List<String> getThreadStates()
    {
        List<Thread> threads = new ArrayList<>(endPoint.getThreads());
        threads.add(logPump);
        return threads.stream().map(thread -> thread.getName() + " " + thread.getState()).toList();
    }

    @Override
    public String dump()
    {
        return Dumpable.dump(this);
    }

    @Override
    public void dump(Appendable out, String indent) throws IOException
    {
        Dumpable.dumpObjects(out, indent, this, identity, new DumpableCollection("threads", getThreadStates()),
            new DumpableCollection("exchanges", exchanges), new DumpableCollection("webSockets", tunnels));
    }

    @Override
    public String toString()
    {
        return "%s@%x[pid=%d,uid=%d,state=%s,inFlight=%d,webSockets=%d,requests=%d,uptime=%ds]".formatted(getClass().getSimpleName(), hashCode(),
            process.pid(), identity.uid(), state.get(), inFlight.get(), tunnels.size(), requests.get(), getUptime().toSeconds());
    }

    /**
     * The session as the frame guard sees it, on the reader thread.
     */
    private class GuardedSession implements WorkerFrameGuard.Session
    {
        @Override
        public int highestOpenedStream()
        {
            return highestStreamId.get();
        }

        @Override
        public boolean isOpen(int streamId)
        {
            Session session = Worker.this.session;
            return session != null && session.getStream(streamId) != null;
        }

        @Override
        public long bytesSent()
        {
            return endPoint.getBytesFlushed();
        }

        @Override
        public int queuedFrames()
        {
            return getQueuedFrames();
        }
    }

    private class SessionListener implements Session.Listener
    {
        @Override
        public Map<Integer, Integer> onPreface(Session session)
        {
            // The worker never pushes: a PUSH_PROMISE from it is a protocol error.
            return Wire.FRONT_PREFACE_SETTINGS;
        }

        @Override
        public void onSettings(Session session, SettingsFrame frame)
        {
            // The worker starts its connector only once privileges are dropped and the app deployed:
            // its first SETTINGS mean it is ready.
            Worker.this.session = session;
            // The idle clock starts now, not at the spawn: else a worker slower to start than the idle timeout
            // was reaped the moment it became ready, failing the requests queued for it with 502.
            lastActiveNanos = System.nanoTime();
            if (state.compareAndSet(State.SPAWNING, State.READY))
            {
                LOG.info("worker ready vhost={} pid={} uid={} gid={} in {}ms", pool.getName(), process.pid(), identity.uid(), identity.gid(), getUptime().toMillis());
                pool.onWorkerReady(Worker.this);
                ready.complete(Worker.this);
            }
        }

        @Override
        public void onPing(Session session, PingFrame frame)
        {
            if (frame.isReply())
                lastPingReplyNanos = System.nanoTime();
        }

        @Override
        public Stream.Listener onNewStream(Stream stream, HeadersFrame frame)
        {
            // Only the front opens streams.
            onProtocolViolation("worker opened stream #" + stream.getId());
            return null;
        }

        @Override
        public void onGoAway(Session session, GoAwayFrame frame)
        {
            // The worker is going away (a graceful server stop sends GOAWAY both ways): no new request goes
            // to it, the ones in flight finish, its exit is seen and classified.
            broken = true;
            goneAway = true;
        }

        @Override
        public void onFailure(Session session, Throwable failure, Callback callback)
        {
            onSessionEnd("session failure: " + failure);
            callback.succeeded();
        }

        @Override
        public void onClose(Session session, GoAwayFrame frame, Callback callback)
        {
            onSessionEnd("session closed: " + frame);
            callback.succeeded();
        }

        private void onSessionEnd(String why)
        {
            broken = true;
            State current = state.get();
            if (current == State.STOPPING || current == State.EXITED)
                return;
            // After its GOAWAY a worker is stopping by itself: give it the exit timeout, as to one the front stops.
            if (goneAway)
                stop(Duration.ZERO, Duration.ofMillis(pool.getExitTimeoutMillis()));
            else
                kill(why);
        }

        @Override
        public boolean onIdleTimeout(Session session)
        {
            // The pool, not an idle timer, decides when a worker ends.
            return false;
        }
    }
}
