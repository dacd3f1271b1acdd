package org.jettyitk.internal.front;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
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
 *   <li>Crash loops back off: {@link VhostSettings#crashLimit()} unexpected exits within
 *   {@link VhostSettings#crashInterval()} stop spawning for a backoff that starts at
 *   {@link VhostSettings#minCrashBackoff()} and doubles up to {@link VhostSettings#maxCrashBackoff()}; a worker that
 *   gets ready resets it.</li>
 * </ul>
 * <p>Vocabulary from Jetty's {@code Pool}: a spawn reserves its slot (in the budget, and as the spawn in flight)
 * under the lock, launches its process outside it, then publishes its worker under the lock; a launch failure
 * releases the slot; an exit removes the worker. A worker whose launch ends after the pool stopped is stopped at
 * once, and the pool's stop waits for it.</p>
 * <p>Its limits and timeouts are one {@link VhostSettings}, fixed for the life of the pool: a vhost that changes
 * gets a new pool.</p>
 */
@ManagedObject("The workers of one vhost")
public class WorkerPool extends ContainerLifeCycle
{
    private static final Logger LOG = LoggerFactory.getLogger(WorkerPool.class);

    private final AutoLock lock = new AutoLock();
    private final String name;
    private final Identity identity;
    private final WorkerArguments arguments;
    private final VhostSettings settings;
    private final Path workDirectory;
    private final WorkerLauncher launcher;
    private final HTTP2Client client;
    private final Scheduler scheduler;
    private final WorkerBudget budget;
    private final TenantLog tenantLog;
    private final List<Worker> workers = new ArrayList<>();
    private final Deque<Long> recentCrashes = new ArrayDeque<>();
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicLong rejected = new AtomicLong();
    private final AtomicInteger webSockets = new AtomicInteger();
    private final AtomicLong webSocketsOpened = new AtomicLong();
    /** The launch in flight, outside the lock: it holds a slot and the requests that wait for it; null if none. */
    private Spawn spawn;
    private long spawned;
    private long crashes;
    private String lastFailure;
    private long backoffUntilNanos;
    private Duration backoff = Duration.ZERO;
    private Scheduler.Task sweeper;

    /**
     * @param arguments whom the workers run as and what they deploy
     * @param settings the vhost's limits and timeouts
     * @param workDirectory the workers' own directory (HOME, TMPDIR, cwd)
     * @param launcher starts the worker processes
     * @param client the front's HTTP/2 client, which speaks to the workers over their pipes
     * @param scheduler the server's scheduler
     * @param budget the server-wide cap on workers, or null for none
     * @param tenantLog where the workers' stderr goes, or null for the server log; closed with this pool
     */
    public WorkerPool(WorkerArguments arguments, VhostSettings settings, Path workDirectory, WorkerLauncher launcher, HTTP2Client client, Scheduler scheduler, WorkerBudget budget, TenantLog tenantLog)
    {
        this.name = settings.vhost();
        this.identity = arguments.identity();
        this.arguments = arguments;
        this.settings = settings;
        this.workDirectory = workDirectory;
        this.launcher = launcher;
        this.client = client;
        this.scheduler = scheduler;
        this.budget = budget != null ? budget : new WorkerBudget(0);
        this.tenantLog = tenantLog;
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
     * @return the settings this pool was made with, for the life of the pool
     */
    public VhostSettings getSettings()
    {
        return settings;
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
        return settings.maxWorkers();
    }

    @ManagedAttribute("Most concurrent requests on one worker")
    public int getMaxStreamsPerWorker()
    {
        return settings.maxStreamsPerWorker();
    }

    @ManagedAttribute("Most requests of this vhost in flight; more get 503")
    public int getMaxRequests()
    {
        return settings.maxRequests();
    }

    @ManagedAttribute("A worker idle this long is reaped, in ms; 0 never")
    public long getIdleTimeoutMillis()
    {
        return settings.idleTimeout().toMillis();
    }

    @ManagedAttribute("A worker that served this many requests is recycled; 0 never")
    public long getMaxRequestsPerWorker()
    {
        return settings.maxRequestsPerWorker();
    }

    @ManagedAttribute("A worker older than this is recycled, in ms; 0 never")
    public long getMaxWorkerAgeMillis()
    {
        return settings.maxWorkerAge().toMillis();
    }

    @ManagedAttribute("A request without a complete response after this long gets 504, in ms; 0 never")
    public long getRequestTimeoutMillis()
    {
        return settings.requestTimeout().toMillis();
    }

    Duration getRequestTimeout()
    {
        return settings.requestTimeout();
    }

    @ManagedAttribute("Most WebSockets of this vhost open at once; more get 503")
    public int getMaxWebSockets()
    {
        return settings.maxWebSockets();
    }

    @ManagedAttribute("A WebSocket idle this long is closed, in ms")
    public long getWebSocketIdleTimeoutMillis()
    {
        return settings.webSocketIdleTimeout().toMillis();
    }

    Duration getWebSocketIdleTimeout()
    {
        return settings.webSocketIdleTimeout();
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
        if (webSockets.incrementAndGet() <= settings.maxWebSockets())
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
        return settings.drainTimeout().toMillis();
    }

    @ManagedAttribute("How long a stopped worker may take to exit before it is killed, in ms")
    public long getExitTimeoutMillis()
    {
        return settings.exitTimeout().toMillis();
    }

    @ManagedAttribute("How long a worker's stdin may take nothing before the worker is killed, in ms (0: never)")
    public long getWriteStallTimeoutMillis()
    {
        return settings.writeStallTimeout().toMillis();
    }

    @ManagedAttribute("Frames a worker may send in one second that oblige the front to answer or make no progress")
    public int getMaxWastedFramesPerSecond()
    {
        return settings.maxWastedFramesPerSecond();
    }

    @ManagedAttribute("Frames the front may hold queued toward one worker")
    public int getMaxQueuedFrames()
    {
        return settings.maxQueuedFrames();
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
        if (inFlight.incrementAndGet() <= settings.maxRequests())
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
     * <p>Finds a worker for one request: a ready one with room, else the one being spawned, else a new one.</p>
     * <p>A new worker's slot is reserved under the lock (in the budget, and as the spawn in flight that later
     * requests wait for); the fork and exec of its process and the start of its threads happen on the server's
     * executor without the lock, so that neither the caller's thread nor other requests, the sweep, the status
     * page or {@code dump()} wait for them; the worker is then published under the lock, or, if the launch failed,
     * the slot is released and the waiting requests fail.</p>
     *
     * @return a future worker to carry one request; failed with {@link PoolBusyException} when the vhost
     * cannot take it now, or with the spawn failure
     */
    public CompletableFuture<Worker> acquire()
    {
        List<Worker> recycle = new ArrayList<>();
        CompletableFuture<Worker> result = null;
        Spawn reserved = null;
        boolean refused = false;
        try (AutoLock ignored = lock.lock())
        {
            if (!isRunning())
                return CompletableFuture.failedFuture(new IOException("pool " + name + " is not running"));
            Worker spawning = null;
            int active = 0;
            for (Worker worker : workers)
            {
                if (worker.isUsable() && isWornOut(worker))
                {
                    recycle.add(worker);
                    continue;
                }
                if (result == null && worker.isUsable() && worker.getInFlight() + worker.getWebSockets() < settings.maxStreamsPerWorker())
                    result = CompletableFuture.completedFuture(worker);
                if (spawning == null && worker.getState() == Worker.State.SPAWNING)
                    spawning = worker;
                // A stopping worker drains its requests: it does not hold a slot a new worker needs.
                if (worker.getState() == Worker.State.SPAWNING || worker.getState() == Worker.State.READY)
                    active++;
            }
            if (result == null && spawning != null)
                result = spawning.ready();
            if (result == null && spawn != null)
                result = spawn.ready;
            if (result == null)
            {
                String refusal = reserve(active);
                if (refusal == null)
                {
                    reserved = spawn = new Spawn();
                    result = reserved.ready;
                }
                else
                {
                    refused = true;
                    result = CompletableFuture.failedFuture(new PoolBusyException(refusal));
                }
            }
        }
        for (Worker worker : recycle)
        {
            retire(worker, "recycled after " + worker.getRequests() + " requests, " + worker.getUptime().toSeconds() + "s");
        }
        if (reserved != null)
            execute(reserved);
        if (refused)
            rejected.incrementAndGet();
        return result;
    }

    /**
     * Takes a new worker's place in the budget, called under the lock.
     *
     * @param active the workers spawning or ready
     * @return why no worker may be spawned now, or null if its place is taken
     */
    private String reserve(int active)
    {
        long now = System.nanoTime();
        if (now - backoffUntilNanos < 0)
            return "vhost " + name + ": workers keep crashing, spawning paused for " + backoff.toMillis() + "ms";
        if (active >= settings.maxWorkers())
            return "vhost " + name + ": all " + active + " workers busy";
        if (!budget.tryReserve())
            return "vhost " + name + ": global cap of " + budget.getMax() + " workers reached";
        return null;
    }

    /**
     * Launches the worker of a reserved slot on the server's executor: a fork and exec (or a round trip to the
     * spawner) blocks, and the caller may be a selector thread (the handler does not block, so Jetty may call it
     * there), which must go on serving every other connection meanwhile.
     */
    private void execute(Spawn reserved)
    {
        // The waiting requests wait no longer than the spawn timeout, however long the launch takes; the worker's
        // own spawn timeout then bounds the wait for its readiness.
        Scheduler.Task timeout = scheduler.schedule(() -> reserved.ready.completeExceptionally(
            new TimeoutException("worker for vhost " + name + " not launched within spawn timeout")), settings.spawnTimeout().toMillis(), TimeUnit.MILLISECONDS);
        try
        {
            client.getExecutor().execute(() -> launch(reserved, timeout));
        }
        catch (RejectedExecutionException x)
        {
            timeout.cancel();
            onLaunchFailure(reserved, new IOException("vhost " + name + ": no thread to launch a worker", x));
        }
    }

    /**
     * Launches the worker of a reserved slot, without the lock, then publishes it under the lock.
     */
    private void launch(Spawn reserved, Scheduler.Task timeout)
    {
        Worker worker;
        try
        {
            worker = spawn();
        }
        catch (IOException | RuntimeException x)
        {
            timeout.cancel();
            LOG.warn("cannot spawn worker for vhost {}", name, x);
            onLaunchFailure(reserved, x);
            return;
        }
        timeout.cancel();
        boolean running;
        try (AutoLock ignored = lock.lock())
        {
            spawned++;
            running = isRunning();
            if (running)
            {
                spawn = null;
                // Its exit may have been seen before it was published, and ignored then: it is counted now.
                if (worker.getState() == Worker.State.EXITED)
                    onExited(worker, false);
                else
                    workers.add(worker);
            }
        }
        worker.ready().whenComplete((ready, failure) ->
        {
            if (failure == null)
                reserved.ready.complete(ready);
            else
                reserved.ready.completeExceptionally(failure);
        });
        if (running)
        {
            reserved.done.complete(null);
            return;
        }
        // The pool stopped during the launch, and its stop waits for this worker: stopped now, never left running.
        LOG.info("worker stopping vhost={} pid={}: pool stopped during its spawn", name, worker.getPid());
        worker.stop(Duration.ZERO, settings.exitTimeout()).whenComplete((process, failure) ->
        {
            try (AutoLock ignored = lock.lock())
            {
                spawn = null;
                budget.release();
            }
            reserved.done.complete(null);
        });
    }

    private void onLaunchFailure(Spawn reserved, Throwable failure)
    {
        try (AutoLock ignored = lock.lock())
        {
            spawn = null;
            budget.release();
        }
        // Counted once, as the request that asked for the spawn.
        rejected.incrementAndGet();
        reserved.ready.completeExceptionally(failure);
        reserved.done.complete(null);
    }

    private boolean isWornOut(Worker worker)
    {
        long maxRequestsPerWorker = settings.maxRequestsPerWorker();
        if (maxRequestsPerWorker > 0 && worker.getRequests() >= maxRequestsPerWorker)
            return true;
        Duration maxWorkerAge = settings.maxWorkerAge();
        return !maxWorkerAge.isZero() && worker.getUptime().compareTo(maxWorkerAge) >= 0;
    }

    /**
     * Forks and execs a worker and starts its threads: never under the lock.
     */
    private Worker spawn() throws IOException
    {
        Process process = launcher.launch(arguments, workDirectory);
        LOG.info("worker spawned vhost={} pid={} user={} uid={} gid={} groups={}", name, process.pid(), identity.user(), identity.uid(), identity.gid(), identity.groups());
        try
        {
            return new Worker(this, process, identity, client, scheduler, settings.spawnTimeout());
        }
        catch (RuntimeException x)
        {
            // A half-built worker must not leave its process behind.
            process.destroyForcibly();
            throw x;
        }
    }

    private void retire(Worker worker, String why)
    {
        LOG.info("worker retiring vhost={} pid={}: {}", name, worker.getPid(), why);
        worker.stop(settings.drainTimeout(), settings.exitTimeout());
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
            if (workers.remove(worker))
                onExited(worker, expected);
        }
    }

    /**
     * Frees the slot of a worker that exited and counts its crash, called under the lock.
     */
    private void onExited(Worker worker, boolean expected)
    {
        budget.release();
        if (expected || !isRunning())
            return;
        crashes++;
        String failure = worker.getFailure();
        lastFailure = failure != null ? failure : "exited " + WorkerExit.describe(worker.getExitValue());
        long now = System.nanoTime();
        recentCrashes.addLast(now);
        while (!recentCrashes.isEmpty() && now - recentCrashes.peekFirst() > settings.crashInterval().toNanos())
        {
            recentCrashes.removeFirst();
        }
        if (recentCrashes.size() >= settings.crashLimit())
        {
            backoff = backoff.isZero() ? settings.minCrashBackoff() : min(backoff.multipliedBy(2), settings.maxCrashBackoff());
            backoffUntilNanos = now + backoff.toNanos();
            recentCrashes.clear();
            LOG.warn("vhost {}: {} workers exited unexpectedly within {}ms, no spawn for {}ms", name, settings.crashLimit(), settings.crashInterval().toMillis(), backoff.toMillis());
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
            sweeper = scheduler.schedule(this::sweep, settings.sweepInterval().toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Kills workers that stopped reading, reaps idle workers and recycles worn-out idle ones; runs every sweep
     * interval.
     */
    private void sweep()
    {
        try
        {
            Duration idleTimeout = settings.idleTimeout();
            for (Worker worker : getWorkers())
            {
                worker.checkOutput(settings.writeStallTimeout(), settings.maxQueuedFrames());
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
        List<Worker> stopping;
        Spawn launching;
        try (AutoLock ignored = lock.lock())
        {
            stopping = List.copyOf(workers);
            launching = spawn;
        }
        List<CompletableFuture<?>> exits = new ArrayList<>();
        for (Worker worker : stopping)
        {
            exits.add(worker.stop(settings.drainTimeout(), settings.exitTimeout()));
        }
        // A launch in flight publishes nothing to a stopped pool: it stops its worker, and this stop waits for it.
        if (launching != null)
            exits.add(launching.done);
        // Past the drain and exit timeouts every worker was killed: this wait is only a guard.
        long guard = settings.spawnTimeout().plus(settings.drainTimeout()).plus(settings.exitTimeout()).plusSeconds(10).toMillis();
        CompletableFuture.allOf(exits.toArray(CompletableFuture[]::new)).get(guard, TimeUnit.MILLISECONDS);
        if (tenantLog != null)
            tenantLog.close();
        super.doStop();
    }

    @Override
    public void dump(Appendable out, String indent) throws IOException
    {
        dumpObjects(out, indent, settings, new DumpableCollection("workers", getWorkers()));
    }

    @Override
    public String toString()
    {
        boolean launching;
        try (AutoLock ignored = lock.lock())
        {
            launching = spawn != null;
        }
        return "%s@%x[vhost=%s,%s,workers=%d/%d,launching=%b,inFlight=%d/%d,webSockets=%d/%d,spawned=%d,crashes=%d]".formatted(getClass().getSimpleName(), hashCode(),
            name, identity, getWorkerCount(), settings.maxWorkers(), launching, inFlight.get(), settings.maxRequests(), webSockets.get(), settings.maxWebSockets(), getSpawned(), getCrashes());
    }

    /**
     * A worker's slot, reserved under the lock while its process is launched outside it.
     */
    private static final class Spawn
    {
        /** Completed as the worker's {@link Worker#ready()}, or failed with the launch's failure or timeout. */
        private final CompletableFuture<Worker> ready = new CompletableFuture<>();
        /** Completed once the launch failed, or published its worker, or stopped the worker a stopped pool missed. */
        private final CompletableFuture<Void> done = new CompletableFuture<>();
    }
}
