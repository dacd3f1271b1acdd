package org.jettyitk.internal.front;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.util.annotation.ManagedAttribute;
import org.eclipse.jetty.util.annotation.ManagedObject;
import org.eclipse.jetty.util.component.ContainerLifeCycle;
import org.eclipse.jetty.util.component.DumpableCollection;
import org.eclipse.jetty.util.thread.AutoLock;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jettyitk.internal.posix.Identity;
import org.jettyitk.internal.worker.WorkerArguments;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>The workers of one vhost: spawned on the first request, reused by the next ones, stopped with the
 * server (php-fpm's {@code ondemand}, without its tuning).</p>
 * <p>{@link #acquire()} returns a worker that is ready, the one being spawned (so requests queue behind the
 * spawn, bounded by the spawn timeout), or spawns one. A worker carries up to {@link #getMaxStreamsPerWorker()}
 * concurrent requests; past that, and with {@link #getMaxWorkers()} workers busy, the request is refused.</p>
 * <p>Vocabulary from Jetty's {@code Pool}: a spawn reserves its slot in the list first; a launch failure
 * removes it; an exit removes the worker.</p>
 */
@ManagedObject("The workers of one vhost")
public class WorkerPool extends ContainerLifeCycle
{
    private static final Logger LOG = LoggerFactory.getLogger(WorkerPool.class);
    public static final int DEFAULT_MAX_WORKERS = 1;
    public static final int DEFAULT_MAX_STREAMS_PER_WORKER = 1000;
    /** How long requests in flight may take to finish when a worker is stopped. */
    public static final Duration DEFAULT_DRAIN_TIMEOUT = Duration.ofSeconds(30);
    /** How long a worker may take to exit after EOF on its stdin before it is killed. */
    public static final Duration DEFAULT_EXIT_TIMEOUT = Duration.ofSeconds(10);

    private final AutoLock lock = new AutoLock();
    private final String name;
    private final Identity identity;
    private final WorkerArguments arguments;
    private final Path workDirectory;
    private final WorkerLauncher launcher;
    private final HTTP2Client client;
    private final Scheduler scheduler;
    private final Duration spawnTimeout;
    private final List<Worker> workers = new ArrayList<>();
    private int maxWorkers = DEFAULT_MAX_WORKERS;
    private int maxStreamsPerWorker = DEFAULT_MAX_STREAMS_PER_WORKER;
    private Duration drainTimeout = DEFAULT_DRAIN_TIMEOUT;
    private long spawned;

    public WorkerPool(String name, WorkerArguments arguments, Path workDirectory, WorkerLauncher launcher, HTTP2Client client, Scheduler scheduler, Duration spawnTimeout)
    {
        this.name = name;
        this.identity = arguments.identity();
        this.arguments = arguments;
        this.workDirectory = workDirectory;
        this.launcher = launcher;
        this.client = client;
        this.scheduler = scheduler;
        this.spawnTimeout = spawnTimeout;
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

    @ManagedAttribute("How long in-flight requests may take to finish when workers stop, in ms")
    public long getDrainTimeoutMillis()
    {
        return drainTimeout.toMillis();
    }

    public void setDrainTimeoutMillis(long millis)
    {
        if (millis < 0)
            throw new IllegalArgumentException("drain timeout < 0: " + millis);
        this.drainTimeout = Duration.ofMillis(millis);
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

    public List<Worker> getWorkers()
    {
        try (AutoLock ignored = lock.lock())
        {
            return List.copyOf(workers);
        }
    }

    /**
     * @return a future worker to carry one request; failed with {@link PoolBusyException} when every worker is
     * at its stream limit, or with the spawn failure
     */
    public CompletableFuture<Worker> acquire()
    {
        Worker spawning = null;
        try (AutoLock ignored = lock.lock())
        {
            if (!isRunning())
                return CompletableFuture.failedFuture(new IOException("pool " + name + " is not running"));
            int active = 0;
            for (Worker worker : workers)
            {
                if (worker.isUsable() && worker.getInFlight() < maxStreamsPerWorker)
                    return CompletableFuture.completedFuture(worker);
                if (spawning == null && worker.getState() == Worker.State.SPAWNING)
                    spawning = worker;
                // A stopping worker drains its requests: it does not hold a slot a new worker needs.
                if (worker.getState() == Worker.State.SPAWNING || worker.getState() == Worker.State.READY)
                    active++;
            }
            if (spawning != null)
                return spawning.ready();
            if (active >= maxWorkers)
                return CompletableFuture.failedFuture(new PoolBusyException("vhost " + name + ": all " + active + " workers busy"));
            try
            {
                Worker worker = spawn();
                workers.add(worker);
                spawned++;
                return worker.ready();
            }
            catch (IOException x)
            {
                LOG.warn("cannot spawn worker for vhost {}", name, x);
                return CompletableFuture.failedFuture(x);
            }
        }
    }

    private Worker spawn() throws IOException
    {
        Process process = launcher.launch(arguments, workDirectory);
        LOG.info("worker spawned vhost={} pid={} user={} uid={} gid={} groups={}", name, process.pid(), identity.user(), identity.uid(), identity.gid(), identity.groups());
        return new Worker(this, process, identity, client, scheduler, spawnTimeout);
    }

    void onWorkerExit(Worker worker)
    {
        try (AutoLock ignored = lock.lock())
        {
            workers.remove(worker);
        }
    }

    @Override
    protected void doStop() throws Exception
    {
        List<Worker> stopping;
        try (AutoLock ignored = lock.lock())
        {
            stopping = List.copyOf(workers);
        }
        List<CompletableFuture<Process>> exits = new ArrayList<>();
        for (Worker worker : stopping)
        {
            exits.add(worker.stop(drainTimeout, DEFAULT_EXIT_TIMEOUT));
        }
        // Past the drain and exit timeouts every worker was killed: this wait is only a guard.
        long guard = drainTimeout.plus(DEFAULT_EXIT_TIMEOUT).plusSeconds(10).toMillis();
        CompletableFuture.allOf(exits.toArray(CompletableFuture[]::new)).get(guard, TimeUnit.MILLISECONDS);
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
        return "%s@%x[vhost=%s,%s,workers=%d/%d]".formatted(getClass().getSimpleName(), hashCode(), name, identity, getWorkerCount(), maxWorkers);
    }
}
