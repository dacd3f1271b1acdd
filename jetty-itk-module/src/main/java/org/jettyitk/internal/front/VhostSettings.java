package org.jettyitk.internal.front;

import java.time.Duration;
import java.util.Objects;

import org.jettyitk.ItkHandler;
import org.jettyitk.VirtualHost;

/**
 * <p>The settings of one vhost's {@link WorkerPool}, resolved once: each value is the {@link VirtualHost}'s own,
 * or, where the vhost leaves it {@link VirtualHost#UNSET}, the {@link ItkHandler}'s default. Immutable: a vhost
 * whose file changes is replaced by a new pool with new settings.</p>
 * <pre>{@code
 * VhostSettings settings = VhostSettings.of(virtualHost, itkHandler);
 * }</pre>
 * <p>The setters of {@link VirtualHost} and {@link ItkHandler} check what they are given; the constructor checks
 * the resolved values again, so that a pool never runs with a value that no setter would take, and names the
 * vhost and the value when it refuses one.</p>
 * <p>Crash loops ({@link WorkerPool}): {@code crashLimit} unexpected exits within {@code crashInterval} pause the
 * vhost's spawning for {@code minCrashBackoff}, doubled at each new loop up to {@code maxCrashBackoff}. The pool
 * checks its workers (idle, worn out, not reading) every {@code sweepInterval}.</p>
 *
 * @param vhost the vhost's name, for messages
 * @param maxWorkers most workers at once, at least 1
 * @param maxStreamsPerWorker most requests and WebSockets on one worker before another is used, at least 1
 * @param maxRequests most requests of the vhost in flight; more get 503; at least 1
 * @param spawnTimeout longest wait for a new worker to be ready; positive
 * @param idleTimeout a worker idle this long is reaped; zero never
 * @param maxRequestsPerWorker a worker that served this many requests is recycled; 0 never
 * @param maxWorkerAge a worker older than this is recycled; zero never
 * @param requestTimeout a request without a complete response after this long gets 504; zero never
 * @param maxWebSockets most WebSockets of the vhost open at once; 0 none
 * @param webSocketIdleTimeout a WebSocket that carried nothing either way for this long is closed; positive
 * @param drainTimeout how long requests in flight may take to finish when a worker stops
 * @param exitTimeout how long a stopped worker may take to exit before it is killed
 * @param writeStallTimeout how long a worker's stdin may take nothing while the front has bytes for it before the
 * worker is killed; zero never
 * @param maxWastedFramesPerSecond frames a worker may send in one second that oblige the front to answer or make
 * no progress ({@link WorkerFrameGuard}); at least 1
 * @param maxQueuedFrames frames the front may hold queued toward one worker; at least 1
 * @param crashLimit unexpected exits within {@code crashInterval} that pause spawning; at least 1
 * @param crashInterval the window in which {@code crashLimit} unexpected exits make a crash loop; positive
 * @param minCrashBackoff the first pause of spawning in a crash loop; positive
 * @param maxCrashBackoff the longest pause, at least {@code minCrashBackoff}
 * @param sweepInterval how often the pool checks its workers; positive
 */
public record VhostSettings(String vhost, int maxWorkers, int maxStreamsPerWorker, int maxRequests, Duration spawnTimeout, Duration idleTimeout, long maxRequestsPerWorker,
                            Duration maxWorkerAge, Duration requestTimeout, int maxWebSockets, Duration webSocketIdleTimeout, Duration drainTimeout,
                            Duration exitTimeout, Duration writeStallTimeout, int maxWastedFramesPerSecond, int maxQueuedFrames,
                            int crashLimit, Duration crashInterval, Duration minCrashBackoff, Duration maxCrashBackoff, Duration sweepInterval)
{
    public static final int DEFAULT_MAX_WORKERS = 1;
    public static final int DEFAULT_MAX_STREAMS_PER_WORKER = 1000;
    public static final int DEFAULT_MAX_REQUESTS = 1000;
    public static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofMinutes(10);
    public static final long DEFAULT_MAX_REQUESTS_PER_WORKER = 0;
    public static final Duration DEFAULT_MAX_WORKER_AGE = Duration.ZERO;
    public static final Duration DEFAULT_REQUEST_TIMEOUT = Duration.ZERO;
    /** WebSockets of one vhost open at once: each holds one of its worker's HTTP/2 streams. */
    public static final int DEFAULT_MAX_WEBSOCKETS = 256;
    /** A WebSocket that carried no byte either way for this long is closed by the front. */
    public static final Duration DEFAULT_WEBSOCKET_IDLE_TIMEOUT = Duration.ofMinutes(5);
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
    /** Unexpected exits within {@link #DEFAULT_CRASH_INTERVAL} that pause a vhost's spawning. */
    public static final int DEFAULT_CRASH_LIMIT = 3;
    public static final Duration DEFAULT_CRASH_INTERVAL = Duration.ofSeconds(10);
    /** The first pause of a crash loop; each new loop before a worker gets ready doubles it. */
    public static final Duration DEFAULT_MIN_CRASH_BACKOFF = Duration.ofSeconds(1);
    public static final Duration DEFAULT_MAX_CRASH_BACKOFF = Duration.ofSeconds(60);
    public static final Duration DEFAULT_SWEEP_INTERVAL = Duration.ofSeconds(1);

    public VhostSettings
    {
        Objects.requireNonNull(vhost, "vhost");
        atLeast(vhost, "maxWorkers", maxWorkers, 1);
        atLeast(vhost, "maxStreamsPerWorker", maxStreamsPerWorker, 1);
        atLeast(vhost, "maxRequests", maxRequests, 1);
        atLeast(vhost, "spawnTimeoutMillis", millis(spawnTimeout), 1);
        atLeast(vhost, "idleTimeoutMillis", millis(idleTimeout), 0);
        atLeast(vhost, "maxRequestsPerWorker", maxRequestsPerWorker, 0);
        atLeast(vhost, "maxWorkerAgeMillis", millis(maxWorkerAge), 0);
        atLeast(vhost, "requestTimeoutMillis", millis(requestTimeout), 0);
        atLeast(vhost, "maxWebSockets", maxWebSockets, 0);
        atLeast(vhost, "webSocketIdleTimeoutMillis", millis(webSocketIdleTimeout), 1);
        atLeast(vhost, "drainTimeoutMillis", millis(drainTimeout), 0);
        atLeast(vhost, "exitTimeoutMillis", millis(exitTimeout), 0);
        atLeast(vhost, "writeStallTimeoutMillis", millis(writeStallTimeout), 0);
        atLeast(vhost, "maxWastedFramesPerSecond", maxWastedFramesPerSecond, 1);
        atLeast(vhost, "maxQueuedFrames", maxQueuedFrames, 1);
        atLeast(vhost, "crashLimit", crashLimit, 1);
        atLeast(vhost, "crashIntervalMillis", millis(crashInterval), 1);
        atLeast(vhost, "minCrashBackoffMillis", millis(minCrashBackoff), 1);
        atLeast(vhost, "maxCrashBackoffMillis", millis(maxCrashBackoff), millis(minCrashBackoff));
        atLeast(vhost, "sweepIntervalMillis", millis(sweepInterval), 1);
    }

    /**
     * @param virtualHost the vhost, whose {@link VirtualHost#UNSET} values take the handler's
     * @param defaults the handler whose settings are every vhost's defaults
     * @return the vhost's settings
     * @throws IllegalArgumentException naming the vhost and the value, if a resolved value is out of its range
     */
    public static VhostSettings of(VirtualHost virtualHost, ItkHandler defaults)
    {
        return new VhostSettings(virtualHost.getName(),
            orDefault(virtualHost.getMaxWorkers(), defaults.getMaxWorkersPerVirtualHost()),
            defaults.getMaxStreamsPerWorker(),
            orDefault(virtualHost.getMaxRequests(), defaults.getMaxRequestsPerVirtualHost()),
            Duration.ofMillis(defaults.getSpawnTimeoutMillis()),
            Duration.ofMillis(orDefault(virtualHost.getIdleTimeoutMillis(), defaults.getIdleTimeoutMillis())),
            orDefault(virtualHost.getMaxRequestsPerWorker(), defaults.getMaxRequestsPerWorker()),
            Duration.ofMillis(orDefault(virtualHost.getMaxWorkerAgeMillis(), defaults.getMaxWorkerAgeMillis())),
            Duration.ofMillis(orDefault(virtualHost.getRequestTimeoutMillis(), defaults.getRequestTimeoutMillis())),
            orDefault(virtualHost.getMaxWebSockets(), defaults.getMaxWebSocketsPerVirtualHost()),
            Duration.ofMillis(orDefault(virtualHost.getWebSocketIdleTimeoutMillis(), defaults.getWebSocketIdleTimeoutMillis())),
            Duration.ofMillis(defaults.getDrainTimeoutMillis()),
            Duration.ofMillis(defaults.getExitTimeoutMillis()),
            Duration.ofMillis(defaults.getWriteStallTimeoutMillis()),
            defaults.getMaxWastedFramesPerSecond(),
            defaults.getMaxQueuedFrames(),
            defaults.getCrashLimit(),
            Duration.ofMillis(defaults.getCrashIntervalMillis()),
            Duration.ofMillis(defaults.getMinCrashBackoffMillis()),
            Duration.ofMillis(defaults.getMaxCrashBackoffMillis()),
            Duration.ofMillis(defaults.getSweepIntervalMillis()));
    }

    private static int orDefault(int value, int fallback)
    {
        return value == VirtualHost.UNSET ? fallback : value;
    }

    private static long orDefault(long value, long fallback)
    {
        return value == VirtualHost.UNSET ? fallback : value;
    }

    private static long millis(Duration duration)
    {
        return Objects.requireNonNull(duration, "duration").toMillis();
    }

    private static void atLeast(String vhost, String name, long value, long min)
    {
        if (value < min)
            throw new IllegalArgumentException("vhost '" + vhost + "': " + name + " < " + min + ": " + value);
    }
}
