package org.jettyitk.internal.front;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.util.annotation.ManagedAttribute;
import org.eclipse.jetty.util.annotation.ManagedObject;
import org.eclipse.jetty.util.component.ContainerLifeCycle;
import org.eclipse.jetty.util.component.DumpableCollection;
import org.eclipse.jetty.util.thread.AutoLock;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jettyitk.internal.launch.WorkerLauncher;
import org.jettyitk.internal.posix.Identity;
import org.jettyitk.internal.wire.WorkerArguments;
import org.jettyitk.internal.wire.WorkerExit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>The workers of one vhost: spawned on the first request, reused by the next ones, recycled, reaped when
 * idle, stopped with the server (php-fpm's {@code ondemand}, without its tuning).</p>
 * <ul>
 *   <li>{@link #acquire()} returns a worker that is ready, the one being spawned (so requests queue behind the
 *   spawn, bounded by the spawn timeout), or spawns one; past {@link #getMaxWorkers()} busy workers, or while
 *   the vhost's workers crash-loop, or at the global {@link WorkerBudget cap}, it fails with
 *   {@link PoolBusyException} (503 with Retry-After).</li>
 *   <li>{@link #tryEnter()} / {@link #exit()} bound the requests of the vhost in flight
 *   ({@link #getMaxRequests()}, mpm-itk's {@code MaxClientsVHost}).</li>
 *   <li>A worker that served {@link #getMaxRequestsPerWorker()} requests or is older than
 *   {@link #getMaxWorkerAgeMillis()} is recycled: it takes no new request, drains and exits; a fresh one
 *   takes the next requests. A worker idle for {@link #getIdleTimeoutMillis()} is reaped.</li>
 *   <li>{@link #tryOpenWebSocket()} / {@link #closeWebSocket()} bound the WebSockets of the vhost open at once
 *   ({@link #getMaxWebSockets()}); the front closes one idle for {@link #getWebSocketIdleTimeoutMillis()}. An open
 *   WebSocket keeps its worker from being reaped as idle, and takes one of its streams.</li>
 *   <li>Crash loops back off: {@value #CRASH_LIMIT} unexpected exits within {@link #CRASH_INTERVAL} stop
 *   spawning for a backoff that doubles up to {@link #MAX_BACKOFF}; a worker that gets ready resets it.</li>
 * </ul>
 * <p>Vocabulary from Jetty's {@code Pool}: a spawn reserves its slot (in the budget, then the list) first; a
 * launch failure removes it; an exit removes the worker.</p>
 */
@ManagedObject("The workers of one vhost")
public class WorkerPool extends ContainerLifeCycle
{
    private static final Logger LOG = LoggerFactory.getLogger(WorkerPool.class);
    public static final int DEFAULT_MAX_WORKERS = 1;
    public static final int DEFAULT_MAX_STREAMS_PER_WORKER = 1000;
    public static final int DEFAULT_MAX_REQUESTS = 1000;
    public static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofMinutes(10);
    public static final long DEFAULT_MAX_REQUESTS_PER_WORKER = 0;
    /** WebSockets of one vhost open at once: each holds one of its worker's HTTP/2 streams. */
    public static final int DEFAULT_MAX_WEBSOCKETS = 256;
    /** A WebSocket that carried no byte either way for this long is closed by the front. */
    public static final Duration DEFAULT_WEBSOCKET_IDLE_TIMEOUT = Duration.ofMinutes(5);
    public static final Duration DEFAULT_MAX_WORKER_AGE = Duration.ZERO;
    /** How long requests in flight may take to finish when a worker is stopped. */
    public static final Duration DEFAULT_DRAIN_TIMEOUT = Duration.ofSeconds(30);
    /** How long a worker may take to exit after EOF on its stdin before it is killed. */
    public static final Duration DEFAULT_EXIT_TIMEOUT = Duration.ofSeconds(10);
    /**
     * How long a worker's stdin may take nothing while the front has bytes for it before the worker is killed: a
     * healthy worker reads as fast as its HTTP/2 parser goes, whatever its app does.
     */
    public static final Duration DEFAULT_WRITE_STALL_TIMEOUT = Duration.ofSeconds(30);
    /** Frames a worker may send in one second that oblige the front to answer or make no progress: see {@link WorkerFrameGuard}. */
    public static final int DEFAULT_MAX_WASTED_FRAMES_PER_SECOND = WorkerFrameGuard.DEFAULT_MAX_WASTED_FRAMES_PER_SECOND;
    /** Frames the front's session may hold toward one worker: see {@link WorkerFrameGuard}. */
    public static final int DEFAULT_MAX_QUEUED_FRAMES = WorkerFrameGuard.DEFAULT_MAX_QUEUED_FRAMES;
    public static final int CRASH_LIMIT = 3;
    public static final Duration CRASH_INTERVAL = Duration.ofSeconds(10);
    public static final Duration MIN_BACKOFF = Duration.ofSeconds(1);
    public static final Duration MAX_BACKOFF = Duration.ofSeconds(60);
    private static final long SWEEP_INTERVAL_MILLIS = 1000;

    private final AutoLock lock = new AutoLock();
    private final String name;
    private final Identity identity;
    private final WorkerArguments arguments;
    private final Path workDirectory;
    private final WorkerLauncher launcher;
    private final HTTP2Client client;
    private final Scheduler scheduler;
    private final Duration spawnTimeout;
    private final WorkerBudget budget;
    private final List<Worker> workers = new ArrayList<>();
    private final Deque<Long> recentCrashes = new ArrayDeque<>();
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicLong rejected = new AtomicLong();
    private final AtomicInteger webSockets = new AtomicInteger();
    private final AtomicLong webSocketsOpened = new AtomicLong();
    private int maxWebSockets = DEFAULT_MAX_WEBSOCKETS;
    private Duration webSocketIdleTimeout = DEFAULT_WEBSOCKET_IDLE_TIMEOUT;
    private int maxWorkers = DEFAULT_MAX_WORKERS;
    private int maxStreamsPerWorker = DEFAULT_MAX_STREAMS_PER_WORKER;
    private int maxRequests = DEFAULT_MAX_REQUESTS;
    private Duration idleTimeout = DEFAULT_IDLE_TIMEOUT;
    private long maxRequestsPerWorker = DEFAULT_MAX_REQUESTS_PER_WORKER;
    private Duration maxWorkerAge = DEFAULT_MAX_WORKER_AGE;
    private Duration requestTimeout = Duration.ZERO;
    private Duration drainTimeout = DEFAULT_DRAIN_TIMEOUT;
    private Duration exitTimeout = DEFAULT_EXIT_TIMEOUT;
    private Duration writeStallTimeout = DEFAULT_WRITE_STALL_TIMEOUT;
    private int maxWastedFramesPerSecond = DEFAULT_MAX_WASTED_FRAMES_PER_SECOND;
    private int maxQueuedFrames = DEFAULT_MAX_QUEUED_FRAMES;
    private long spawned;
    private long crashes;
    private String lastFailure;
    private long backoffUntilNanos;
    private Duration backoff = Duration.ZERO;
    private Scheduler.Task sweeper;
    private TenantLog tenantLog;

    public WorkerPool(String name, WorkerArguments arguments, Path workDirectory, WorkerLauncher launcher, HTTP2Client client, Scheduler scheduler, Duration spawnTimeout)
    {
        this(name, arguments, workDirectory, launcher, client, scheduler, spawnTimeout, null);
    }

    /**
     * @param budget the server-wide cap on workers, or null for none
     */
    public WorkerPool(String name, WorkerArguments arguments, Path workDirectory, WorkerLauncher launcher, HTTP2Client client, Scheduler scheduler, Duration spawnTimeout, WorkerBudget budget)
    {
        this.name = name;
        this.identity = arguments.identity();
        this.arguments = arguments;
        this.workDirectory = workDirectory;
        this.launcher = launcher;
        this.client = client;
        this.scheduler = scheduler;
        this.spawnTimeout = spawnTimeout;
        this.budget = budget != null ? budget : new WorkerBudget(0);
    }

    @ManagedAttribute("The vhost name")
    public String getName()
    {
        return name;
    }

    public Identity getIdentity()
    {
        return identity;
    }

    /**
     * @param tenantLog where the workers' stderr goes, or null for the server log; closed with this pool
     */
    public void setTenantLog(TenantLog tenantLog)
    {
        this.tenantLog = tenantLog;
    }

    TenantLog getTenantLog()
    {
        return tenantLog;
    }

    Scheduler getScheduler()
    {
        return scheduler;
    }

    @ManagedAttribute("Most workers at once")
    public int getMaxWorkers()
    {
        return maxWorkers;
    }

    public void setMaxWorkers(int maxWorkers)
    {
        if (maxWorkers < 1)
            throw new IllegalArgumentException("maxWorkers < 1: " + maxWorkers);
        this.maxWorkers = maxWorkers;
    }

    @ManagedAttribute("Most concurrent requests on one worker")
    public int getMaxStreamsPerWorker()
    {
        return maxStreamsPerWorker;
    }

    public void setMaxStreamsPerWorker(int maxStreamsPerWorker)
    {
        if (maxStreamsPerWorker < 1)
            throw new IllegalArgumentException("maxStreamsPerWorker < 1: " + maxStreamsPerWorker);
        this.maxStreamsPerWorker = maxStreamsPerWorker;
    }

    @ManagedAttribute("Most requests of this vhost in flight; more get 503")
    public int getMaxRequests()
    {
        return maxRequests;
    }

    public void setMaxRequests(int maxRequests)
    {
        if (maxRequests < 1)
            throw new IllegalArgumentException("maxRequests < 1: " + maxRequests);
        this.maxRequests = maxRequests;
    }

    @ManagedAttribute("A worker idle this long is reaped, in ms; 0 never")
    public long getIdleTimeoutMillis()
    {
        return idleTimeout.toMillis();
    }

    public void setIdleTimeoutMillis(long millis)
    {
        this.idleTimeout = nonNegative("idleTimeoutMillis", millis);
    }

    @ManagedAttribute("A worker that served this many requests is recycled; 0 never")
    public long getMaxRequestsPerWorker()
    {
        return maxRequestsPerWorker;
    }

    public void setMaxRequestsPerWorker(long max)
    {
        if (max < 0)
            throw new IllegalArgumentException("maxRequestsPerWorker < 0: " + max);
        this.maxRequestsPerWorker = max;
    }

    @ManagedAttribute("A worker older than this is recycled, in ms; 0 never")
    public long getMaxWorkerAgeMillis()
    {
        return maxWorkerAge.toMillis();
    }

    public void setMaxWorkerAgeMillis(long millis)
    {
        this.maxWorkerAge = nonNegative("maxWorkerAgeMillis", millis);
    }

    @ManagedAttribute("A request without a complete response after this long gets 504, in ms; 0 never")
    public long getRequestTimeoutMillis()
    {
        return requestTimeout.toMillis();
    }

    public void setRequestTimeoutMillis(long millis)
    {
        this.requestTimeout = nonNegative("requestTimeoutMillis", millis);
    }

    Duration getRequestTimeout()
    {
        return requestTimeout;
    }

    @ManagedAttribute("Most WebSockets of this vhost open at once; more get 503")
    public int getMaxWebSockets()
    {
        return maxWebSockets;
    }

    public void setMaxWebSockets(int max)
    {
        if (max < 0)
            throw new IllegalArgumentException("maxWebSockets < 0: " + max);
        this.maxWebSockets = max;
    }

    @ManagedAttribute("A WebSocket idle this long is closed, in ms")
    public long getWebSocketIdleTimeoutMillis()
    {
        return webSocketIdleTimeout.toMillis();
    }

    public void setWebSocketIdleTimeoutMillis(long millis)
    {
        if (millis < 1)
            throw new IllegalArgumentException("webSocketIdleTimeoutMillis < 1: " + millis);
        this.webSocketIdleTimeout = Duration.ofMillis(millis);
    }

    Duration getWebSocketIdleTimeout()
    {
        return webSocketIdleTimeout;
    }

    @ManagedAttribute("WebSockets of this vhost open")
    public int getWebSockets()
    {
        return webSockets.get();
    }

    @ManagedAttribute("WebSockets of this vhost opened since start")
    public long getWebSocketsOpened()
    {
        return webSocketsOpened.get();
    }

    /**
     * Counts one more WebSocket of this vhost open, unless {@link #getMaxWebSockets()} are already.
     *
     * @return whether it may open; if so, {@link #closeWebSocket()} must follow once it ends
     */
    boolean tryOpenWebSocket()
    {
        if (webSockets.incrementAndGet() <= maxWebSockets)
        {
            webSocketsOpened.incrementAndGet();
            return true;
        }
        webSockets.decrementAndGet();
        rejected.incrementAndGet();
        return false;
    }

    void closeWebSocket()
    {
        webSockets.decrementAndGet();
    }

    @ManagedAttribute("How long in-flight requests may take to finish when workers stop, in ms")
    public long getDrainTimeoutMillis()
    {
        return drainTimeout.toMillis();
    }

    public void setDrainTimeoutMillis(long millis)
    {
        this.drainTimeout = nonNegative("drainTimeoutMillis", millis);
    }

    @ManagedAttribute("How long a stopped worker may take to exit before it is killed, in ms")
    public long getExitTimeoutMillis()
    {
        return exitTimeout.toMillis();
    }

    public void setExitTimeoutMillis(long millis)
    {
        this.exitTimeout = nonNegative("exitTimeoutMillis", millis);
    }

    @ManagedAttribute("How long a worker's stdin may take nothing before the worker is killed, in ms (0: never)")
    public long getWriteStallTimeoutMillis()
    {
        return writeStallTimeout.toMillis();
    }

    /**
     * Takes effect at the next check of every worker of this pool.
     */
    public void setWriteStallTimeoutMillis(long millis)
    {
        this.writeStallTimeout = nonNegative("writeStallTimeoutMillis", millis);
    }

    @ManagedAttribute("Frames a worker may send in one second that oblige the front to answer or make no progress")
    public int getMaxWastedFramesPerSecond()
    {
        return maxWastedFramesPerSecond;
    }

    /**
     * Takes effect for the workers spawned afterwards.
     */
    public void setMaxWastedFramesPerSecond(int max)
    {
        if (max < 1)
            throw new IllegalArgumentException("maxWastedFramesPerSecond < 1: " + max);
        this.maxWastedFramesPerSecond = max;
    }

    @ManagedAttribute("Frames the front may hold queued toward one worker")
    public int getMaxQueuedFrames()
    {
        return maxQueuedFrames;
    }

    /**
     * Takes effect for the workers spawned afterwards, and at the next check of every worker.
     */
    public void setMaxQueuedFrames(int max)
    {
        if (max < 1)
            throw new IllegalArgumentException("maxQueuedFrames < 1: " + max);
        this.maxQueuedFrames = max;
    }

    private static Duration nonNegative(String name, long millis)
    {
        if (millis < 0)
            throw new IllegalArgumentException(name + " < 0: " + millis);
        return Duration.ofMillis(millis);
    }

    @ManagedAttribute("Workers alive")
    public int getWorkerCount()
    {
        try (AutoLock ignored = lock.lock())
        {
            return workers.size();
        }
    }

    @ManagedAttribute("Workers spawned since start")
    public long getSpawned()
    {
        try (AutoLock ignored = lock.lock())
        {
            return spawned;
        }
    }

    @ManagedAttribute("Workers that exited unexpectedly since start")
    public long getCrashes()
    {
        try (AutoLock ignored = lock.lock())
        {
            return crashes;
        }
    }

    @ManagedAttribute("Why the last worker that exited unexpectedly failed, or null")
    public String getLastFailure()
    {
        try (AutoLock ignored = lock.lock())
        {
            return lastFailure;
        }
    }

    @ManagedAttribute("Requests of this vhost in flight")
    public int getInFlight()
    {
        return inFlight.get();
    }

    @ManagedAttribute("Requests refused with 503 since start")
    public long getRejected()
    {
        return rejected.get();
    }

    public List<Worker> getWorkers()
    {
        try (AutoLock ignored = lock.lock())
        {
            return List.copyOf(workers);
        }
    }

    /**
     * Counts one more request of this vhost in flight, unless {@link #getMaxRequests()} are already.
     *
     * @return whether the request may proceed; if so, {@link #exit()} must follow once it completes
     */
    public boolean tryEnter()
    {
        if (inFlight.incrementAndGet() <= maxRequests)
            return true;
        inFlight.decrementAndGet();
        rejected.incrementAndGet();
        return false;
    }

    public void exit()
    {
        inFlight.decrementAndGet();
    }

    /**
     * @return a future worker to carry one request; failed with {@link PoolBusyException} when the vhost
     * cannot take it now, or with the spawn failure
     */
    public CompletableFuture<Worker> acquire()
    {
        Worker spawning = null;
        List<Worker> recycle = new ArrayList<>();
        CompletableFuture<Worker> result = null;
        try (AutoLock ignored = lock.lock())
        {
            if (!isRunning())
                return CompletableFuture.failedFuture(new IOException("pool " + name + " is not running"));
            int active = 0;
            for (Worker worker : workers)
            {
                if (worker.isUsable() && isWornOut(worker))
                {
                    recycle.add(worker);
                    continue;
                }
                if (result == null && worker.isUsable() && worker.getInFlight() + worker.getWebSockets() < maxStreamsPerWorker)
                    result = CompletableFuture.completedFuture(worker);
                if (spawning == null && worker.getState() == Worker.State.SPAWNING)
                    spawning = worker;
                // A stopping worker drains its requests: it does not hold a slot a new worker needs.
                if (worker.getState() == Worker.State.SPAWNING || worker.getState() == Worker.State.READY)
                    active++;
            }
            if (result == null && spawning != null)
                result = spawning.ready();
            if (result == null)
                result = spawnIfAllowed(active);
        }
        for (Worker worker : recycle)
        {
            retire(worker, "recycled after " + worker.getRequests() + " requests, " + worker.getUptime().toSeconds() + "s");
        }
        if (result.isCompletedExceptionally())
            rejected.incrementAndGet();
        return result;
    }

    private CompletableFuture<Worker> spawnIfAllowed(int active)
    {
        long now = System.nanoTime();
        if (now - backoffUntilNanos < 0)
            return CompletableFuture.failedFuture(new PoolBusyException("vhost " + name + ": workers keep crashing, spawning paused for " + backoff.toSeconds() + "s"));
        if (active >= maxWorkers)
            return CompletableFuture.failedFuture(new PoolBusyException("vhost " + name + ": all " + active + " workers busy"));
        if (!budget.tryReserve())
            return CompletableFuture.failedFuture(new PoolBusyException("vhost " + name + ": global cap of " + budget.getMax() + " workers reached"));
        try
        {
            Worker worker = spawn();
            workers.add(worker);
            spawned++;
            return worker.ready();
        }
        catch (IOException | RuntimeException x)
        {
            budget.release();
            LOG.warn("cannot spawn worker for vhost {}", name, x);
            return CompletableFuture.failedFuture(x);
        }
    }

    private boolean isWornOut(Worker worker)
    {
        if (maxRequestsPerWorker > 0 && worker.getRequests() >= maxRequestsPerWorker)
            return true;
        return !maxWorkerAge.isZero() && worker.getUptime().compareTo(maxWorkerAge) >= 0;
    }

    private Worker spawn() throws IOException
    {
        Process process = launcher.launch(arguments, workDirectory);
        LOG.info("worker spawned vhost={} pid={} user={} uid={} gid={} groups={}", name, process.pid(), identity.user(), identity.uid(), identity.gid(), identity.groups());
        return new Worker(this, process, identity, client, scheduler, spawnTimeout);
    }

    private void retire(Worker worker, String why)
    {
        LOG.info("worker retiring vhost={} pid={}: {}", name, worker.getPid(), why);
        worker.stop(drainTimeout, exitTimeout);
    }

    void onWorkerReady(Worker worker)
    {
        try (AutoLock ignored = lock.lock())
        {
            backoff = Duration.ZERO;
        }
    }

    void onWorkerExit(Worker worker, boolean expected)
    {
        try (AutoLock ignored = lock.lock())
        {
            if (!workers.remove(worker))
                return;
            budget.release();
            if (expected || !isRunning())
                return;
            crashes++;
            String failure = worker.getFailure();
            lastFailure = failure != null ? failure : "exited " + WorkerExit.describe(worker.getExitValue());
            long now = System.nanoTime();
            recentCrashes.addLast(now);
            while (!recentCrashes.isEmpty() && now - recentCrashes.peekFirst() > CRASH_INTERVAL.toNanos())
            {
                recentCrashes.removeFirst();
            }
            if (recentCrashes.size() >= CRASH_LIMIT)
            {
                backoff = backoff.isZero() ? MIN_BACKOFF : min(backoff.multipliedBy(2), MAX_BACKOFF);
                backoffUntilNanos = now + backoff.toNanos();
                recentCrashes.clear();
                LOG.warn("vhost {}: {} workers exited unexpectedly within {}s, no spawn for {}s", name, CRASH_LIMIT, CRASH_INTERVAL.toSeconds(), backoff.toSeconds());
            }
        }
    }

    private static Duration min(Duration a, Duration b)
    {
        return a.compareTo(b) <= 0 ? a : b;
    }

    @Override
    protected void doStart() throws Exception
    {
        super.doStart();
        scheduleSweep();
    }

    private void scheduleSweep()
    {
        if (isRunning())
            sweeper = scheduler.schedule(this::sweep, SWEEP_INTERVAL_MILLIS, TimeUnit.MILLISECONDS);
    }

    /**
     * Kills workers that stopped reading, reaps idle workers and recycles worn-out idle ones; runs every second.
     */
    private void sweep()
    {
        try
        {
            for (Worker worker : getWorkers())
            {
                worker.checkOutput(writeStallTimeout, maxQueuedFrames);
                if (!worker.isUsable() || worker.getInFlight() > 0 || worker.getWebSockets() > 0)
                    continue;
                if (!idleTimeout.isZero() && worker.getIdle().compareTo(idleTimeout) >= 0)
                    retire(worker, "idle for " + worker.getIdle().toSeconds() + "s");
                else if (isWornOut(worker))
                    retire(worker, "recycled after " + worker.getRequests() + " requests, " + worker.getUptime().toSeconds() + "s");
            }
        }
        finally
        {
            scheduleSweep();
        }
    }

    @Override
    protected void doStop() throws Exception
    {
        Scheduler.Task task = sweeper;
        if (task != null)
            task.cancel();
        List<Worker> stopping = getWorkers();
        List<CompletableFuture<Process>> exits = new ArrayList<>();
        for (Worker worker : stopping)
        {
            exits.add(worker.stop(drainTimeout, exitTimeout));
        }
        // Past the drain and exit timeouts every worker was killed: this wait is only a guard.
        long guard = drainTimeout.plus(exitTimeout).plusSeconds(10).toMillis();
        CompletableFuture.allOf(exits.toArray(CompletableFuture[]::new)).get(guard, TimeUnit.MILLISECONDS);
        if (tenantLog != null)
            tenantLog.close();
        super.doStop();
    }

    @Override
    public void dump(Appendable out, String indent) throws IOException
    {
        dumpObjects(out, indent, new DumpableCollection("workers", getWorkers()));
    }

    @Override
    public String toString()
    {
        return "%s@%x[vhost=%s,%s,workers=%d/%d,inFlight=%d/%d,webSockets=%d/%d,spawned=%d,crashes=%d]".formatted(getClass().getSimpleName(), hashCode(),
            name, identity, getWorkerCount(), maxWorkers, inFlight.get(), maxRequests, webSockets.get(), maxWebSockets, getSpawned(), getCrashes());
    }
}
