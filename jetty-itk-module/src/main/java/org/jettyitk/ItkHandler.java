package org.jettyitk;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpHeaderValue;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.annotation.ManagedAttribute;
import org.eclipse.jetty.util.annotation.ManagedObject;
import org.eclipse.jetty.util.component.Graceful;
import org.eclipse.jetty.util.component.LifeCycle;
import org.jettyitk.internal.front.AppCheck;
import org.jettyitk.internal.front.FrontExchanges;
import org.jettyitk.internal.front.HostTable;
import org.jettyitk.internal.front.ItkStatus;
import org.jettyitk.internal.front.PoolBusyException;
import org.jettyitk.internal.front.VhostSettings;
import org.jettyitk.internal.front.SpawnerLauncher;
import org.jettyitk.internal.front.StatusAccess;
import org.jettyitk.internal.front.TenantLog;
import org.jettyitk.internal.front.WorkerBudget;
import org.jettyitk.internal.front.WorkerLaunching;
import org.jettyitk.internal.front.WorkerPool;
import org.jettyitk.internal.launch.CpuGroup;
import org.jettyitk.internal.launch.ProcessWorkerLauncher;
import org.jettyitk.internal.launch.WorkerClassArchive;
import org.jettyitk.internal.launch.WorkerLauncher;
import org.jettyitk.internal.posix.FrontPrivileges;
import org.jettyitk.internal.posix.Identity;
import org.jettyitk.internal.posix.IdentityResolver;
import org.jettyitk.internal.posix.Posix;
import org.jettyitk.internal.posix.PrivilegeException;
import org.jettyitk.internal.wire.DeploySettings;
import org.jettyitk.internal.wire.ProcessLimits;
import org.jettyitk.internal.wire.Wire;
import org.jettyitk.internal.wire.WorkerArguments;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>The front of jetty-itk: maps each request's virtual host to a {@link VirtualHost} and forwards the request,
 * asynchronously and streaming both bodies, to a worker process running as that vhost's Unix identity.</p>
 * <pre>{@code
 * ItkHandler itk = new ItkHandler();
 * VirtualHost alice = new VirtualHost("alice");
 * alice.setHostNames("alice.example.com");
 * alice.setUser("41001");
 * alice.setGroup("41001");
 * alice.setApp("/srv/alice/www");
 * itk.addVirtualHost(alice);
 * server.setHandler(itk);
 * }</pre>
 * <p>Host matching is case-insensitive, ignores the port and one trailing dot, and knows exact names and
 * {@code *.domain} wildcards; an absolute-form request target wins over {@code Host}, as in Jetty. A request for
 * a host no vhost serves goes to the {@link #setDefaultVirtualHost(String) default vhost} if one is set, else to
 * the wrapped handler if there is one, else gets a 404.</p>
 * <p>All configuration is checked by {@link #start()}: an unknown user or group, uid or gid 0, an id outside
 * {@link #setMinId(int) minId}..{@link #setMaxId(int) maxId}, a duplicate host name or a vhost without user
 * or app fails the start with a message naming the vhost.</p>
 * <p>A vhost's limits and timeouts are its own where it sets them, else this handler's: they are resolved and
 * checked once, into a {@link VhostSettings}, when the vhost's pool is made, and kept for the life of that pool. A
 * setter called on a started handler reaches the vhosts added or replaced afterwards.</p>
 * <p>It takes part in Jetty's graceful stop ({@link Graceful}): when the server stops with a stop timeout
 * ({@code jetty.server.stopTimeout}), requests for every vhost still in flight finish first, all at once, while
 * new ones get 503; only then are the workers stopped. What still runs at the timeout is aborted and logged.</p>
 */
@ManagedObject("Forwards each virtual host to workers running as its own Unix user")
public class ItkHandler extends Handler.Wrapper implements Graceful
{
    private static final Logger LOG = LoggerFactory.getLogger(ItkHandler.class);
    public static final Duration DEFAULT_SPAWN_TIMEOUT = Duration.ofSeconds(30);
    /**
     * <p>Default options of every worker JVM:</p>
     * <ul>
     *   <li>a small initial heap, so that an idle worker touches little memory, with G1, which grows it quickly
     *   under load (the serial collector kept a small heap full and spent more time in GC than in the tenant's
     *   code) and gives it back after 30 s without a collection;</li>
     *   <li>the full tiered JIT: the tenant's code runs as fast as on a plain Jetty;</li>
     *   <li>the native heap trimmed every second: glibc otherwise keeps what the JIT compilers free.
     *   {@code TrimNativeHeapInterval} exists from JDK 17.0.9 and 21.0.1; {@code -XX:+IgnoreUnrecognizedVMOptions}
     *   lets an older JDK start without it;</li>
     *   <li>class-data-sharing archives mapped at the address they were dumped for
     *   ({@code ArchiveRelocationMode=0}): relocated, as recent JDK 17 builds do by default, every page of the
     *   archives is written and private to each worker; mapped in place, the workers share them. The cost is a
     *   predictable address for those archives within a worker, whose code runs as the tenant anyway.</li>
     * </ul>
     */
    public static final List<String> DEFAULT_WORKER_JVM_OPTIONS = List.of(
        "-Xms8m", "-Xmx256m", "-XX:+UseG1GC", "-XX:G1PeriodicGCInterval=30000", "-Xss512k", "-XX:+ExitOnOutOfMemoryError", "-Xshare:auto",
        "-XX:+IgnoreUnrecognizedVMOptions", "-XX:+UnlockExperimentalVMOptions", "-XX:TrimNativeHeapInterval=1000",
        "-XX:+UnlockDiagnosticVMOptions", "-XX:ArchiveRelocationMode=0");
    /** Default server-wide cap on worker processes. */
    public static final int DEFAULT_MAX_WORKERS = 500;
    /** Seconds a client is told to wait when a vhost cannot take its request now. */
    public static final int RETRY_AFTER_SECONDS = 2;
    /** Seconds between two WARNs that a vhost cannot serve: every request to it fails alike meanwhile. */
    public static final int UNAVAILABLE_WARN_INTERVAL_SECONDS = 10;

    private final List<VirtualHost> virtualHosts = new ArrayList<>();
    private final Map<VirtualHost, WorkerPool> pools = new HashMap<>();
    private volatile Routes routes = Routes.NONE;
    private String defaultVirtualHost;
    private int minId = IdentityResolver.DEFAULT_MIN_ID;
    private int maxId = IdentityResolver.DEFAULT_MAX_ID;
    private String javaCommand;
    private List<String> workerJvmOptions = DEFAULT_WORKER_JVM_OPTIONS;
    private String workerClassPath;
    private boolean useSetpriv = true;
    private String frontUser;
    private String frontGroup;
    private List<Path> logDirectories = List.of();
    private Identity frontIdentity;
    private boolean workerClassArchive = true;
    private boolean cpuGroup = true;
    private Path workDirectory;
    private Duration spawnTimeout = DEFAULT_SPAWN_TIMEOUT;
    private int maxWorkersPerVirtualHost = VhostSettings.DEFAULT_MAX_WORKERS;
    private int maxStreamsPerWorker = VhostSettings.DEFAULT_MAX_STREAMS_PER_WORKER;
    private int maxRequestsPerVirtualHost = VhostSettings.DEFAULT_MAX_REQUESTS;
    private long idleTimeoutMillis = VhostSettings.DEFAULT_IDLE_TIMEOUT.toMillis();
    private long maxRequestsPerWorker = VhostSettings.DEFAULT_MAX_REQUESTS_PER_WORKER;
    private long maxWorkerAgeMillis = VhostSettings.DEFAULT_MAX_WORKER_AGE.toMillis();
    private long requestTimeoutMillis = VhostSettings.DEFAULT_REQUEST_TIMEOUT.toMillis();
    private long drainTimeoutMillis = VhostSettings.DEFAULT_DRAIN_TIMEOUT.toMillis();
    private long exitTimeoutMillis = VhostSettings.DEFAULT_EXIT_TIMEOUT.toMillis();
    private long writeStallTimeoutMillis = VhostSettings.DEFAULT_WRITE_STALL_TIMEOUT.toMillis();
    private int maxWastedFramesPerSecond = VhostSettings.DEFAULT_MAX_WASTED_FRAMES_PER_SECOND;
    private int maxQueuedFrames = VhostSettings.DEFAULT_MAX_QUEUED_FRAMES;
    private int maxWebSocketsPerVirtualHost = VhostSettings.DEFAULT_MAX_WEBSOCKETS;
    private long webSocketIdleTimeoutMillis = VhostSettings.DEFAULT_WEBSOCKET_IDLE_TIMEOUT.toMillis();
    private int crashLimit = VhostSettings.DEFAULT_CRASH_LIMIT;
    private long crashIntervalMillis = VhostSettings.DEFAULT_CRASH_INTERVAL.toMillis();
    private long minCrashBackoffMillis = VhostSettings.DEFAULT_MIN_CRASH_BACKOFF.toMillis();
    private long maxCrashBackoffMillis = VhostSettings.DEFAULT_MAX_CRASH_BACKOFF.toMillis();
    private long sweepIntervalMillis = VhostSettings.DEFAULT_SWEEP_INTERVAL.toMillis();
    private int maxWorkers = DEFAULT_MAX_WORKERS;
    private String statusPath;
    private volatile StatusAccess statusAccess = new StatusAccess(StatusAccess.LOOPBACK);
    /** Every uid a vhost has run as since this handler was made: their processes may outlive the vhost. */
    private final Set<Integer> tenantUids = ConcurrentHashMap.newKeySet();
    private WorkerBudget budget;
    private WorkerLauncher launcher;
    private WorkerLaunching launching;
    private HTTP2Client client;
    /** Requests given to a vhost's pool and not yet completed, of all vhosts. */
    private final AtomicInteger inFlight = new AtomicInteger();
    /** Pools of replaced or removed vhosts that still drain; stopped with the handler at the latest. */
    private final Set<WorkerPool> retiring = ConcurrentHashMap.newKeySet();
    private final Map<String, UnavailableWarnings> unavailableWarnings = new ConcurrentHashMap<>();
    private final Graceful.Shutdown shutdown = new Graceful.Shutdown(this)
    {
        @Override
        public boolean isShutdownDone()
        {
            return inFlight.get() == 0;
        }
    };

    public ItkHandler()
    {
        this(null);
    }

    public ItkHandler(Handler next)
    {
        super(next);
    }

    /**
     * <p>Adds a vhost. Before start it is checked by {@link #start()}; on a started handler it is checked
     * against the others now (an {@link IllegalStateException} names the problem and changes nothing), then
     * serves new requests at once.</p>
     */
    public synchronized void addVirtualHost(VirtualHost virtualHost)
    {
        if (!isStarted())
        {
            virtualHosts.add(virtualHost);
            return;
        }
        List<VirtualHost> next = new ArrayList<>(virtualHosts);
        next.add(virtualHost);
        Map<VirtualHost, Identity> identities = resolveIdentities(next);
        WorkerPool pool = newPool(virtualHost, identities.get(virtualHost));
        virtualHosts.add(virtualHost);
        pools.put(virtualHost, pool);
        addBean(pool, true);
        // On a started container a new bean is not started for us.
        LifeCycle.start(pool);
        routes = newRoutes();
        LOG.info("vhost added {}", virtualHost);
    }

    /**
     * <p>Removes a vhost. On a started handler new requests no longer reach it at once, and its workers are
     * drained (requests in flight finish) and stopped in the background.</p>
     *
     * @return whether the vhost was configured
     */
    public synchronized boolean removeVirtualHost(VirtualHost virtualHost)
    {
        if (!virtualHosts.remove(virtualHost))
            return false;
        WorkerPool pool = pools.remove(virtualHost);
        if (pool != null)
        {
            routes = newRoutes();
            retire(pool);
            LOG.info("vhost removed {}", virtualHost);
        }
        return true;
    }

    /**
     * <p>Replaces a vhost by a new definition in one step: new requests use the new definition, requests in
     * flight finish on the old workers, which are then stopped. If the new definition is invalid, nothing
     * changes and the {@link IllegalStateException} names the problem.</p>
     */
    public synchronized void replaceVirtualHost(VirtualHost old, VirtualHost replacement)
    {
        int index = virtualHosts.indexOf(old);
        if (index < 0)
            throw new IllegalArgumentException("not a configured vhost: " + old);
        if (!isStarted())
        {
            virtualHosts.set(index, replacement);
            return;
        }
        List<VirtualHost> next = new ArrayList<>(virtualHosts);
        next.set(index, replacement);
        Map<VirtualHost, Identity> identities = resolveIdentities(next);
        WorkerPool pool = newPool(replacement, identities.get(replacement));
        virtualHosts.set(index, replacement);
        WorkerPool retired = pools.remove(old);
        pools.put(replacement, pool);
        addBean(pool, true);
        // On a started container a new bean is not started for us.
        LifeCycle.start(pool);
        routes = newRoutes();
        if (retired != null)
            retire(retired);
        LOG.info("vhost replaced {} by {}", old, replacement);
    }

    private void retire(WorkerPool pool)
    {
        // Draining waits for requests in flight, up to the drain timeout: never on the caller's thread (the
        // scanner's, which would hold back every other vhost's change). Unmanaged first, as removing a managed
        // bean stops it on the spot.
        unmanage(pool);
        removeBean(pool);
        retiring.add(pool);
        Thread stopper = new Thread(() ->
        {
            LifeCycle.stop(pool);
            retiring.remove(pool);
            LOG.info("vhost drained {}", pool.getName());
        }, "itk-retire-" + pool.getName());
        stopper.setDaemon(true);
        stopper.start();
    }

    public synchronized void setVirtualHosts(List<VirtualHost> virtualHosts)
    {
        if (isStarted())
            throw new IllegalStateException("cannot set vhosts of a started " + this + ": add, remove or replace them");
        this.virtualHosts.clear();
        this.virtualHosts.addAll(virtualHosts);
    }

    public synchronized List<VirtualHost> getVirtualHosts()
    {
        return List.copyOf(virtualHosts);
    }

    @ManagedAttribute("The vhost that serves hosts no vhost names, or null")
    public String getDefaultVirtualHost()
    {
        return defaultVirtualHost;
    }

    public synchronized void setDefaultVirtualHost(String name)
    {
        this.defaultVirtualHost = name;
        if (isStarted())
            routes = newRoutes();
    }

    @ManagedAttribute("Lowest uid or gid a vhost may use")
    public int getMinId()
    {
        return minId;
    }

    public void setMinId(int minId)
    {
        this.minId = minId;
    }

    @ManagedAttribute("Highest uid or gid a vhost may use")
    public int getMaxId()
    {
        return maxId;
    }

    public void setMaxId(int maxId)
    {
        this.maxId = maxId;
    }

    @ManagedAttribute("The java binary of the workers; null for the front's")
    public String getJavaCommand()
    {
        return javaCommand;
    }

    public void setJavaCommand(String javaCommand)
    {
        this.javaCommand = javaCommand;
    }

    @ManagedAttribute("Options of the worker JVMs")
    public List<String> getWorkerJvmOptions()
    {
        return workerJvmOptions;
    }

    public void setWorkerJvmOptions(List<String> options)
    {
        this.workerJvmOptions = List.copyOf(options);
    }

    /**
     * @param options space-separated worker JVM options, as a Jetty XML property would give them
     */
    public void setWorkerJvmOptionString(String options)
    {
        setWorkerJvmOptions(options.isBlank() ? List.of() : List.of(options.trim().split("\\s+")));
    }

    @ManagedAttribute("Class path of the worker JVMs; null for the front's")
    public String getWorkerClassPath()
    {
        return workerClassPath;
    }

    public void setWorkerClassPath(String workerClassPath)
    {
        this.workerClassPath = workerClassPath;
    }

    @ManagedAttribute("Whether the front trains a class-data-sharing archive that workers with the default JVM options share")
    public boolean isWorkerClassArchive()
    {
        return workerClassArchive;
    }

    /**
     * @param workerClassArchive whether to train, at start, a class-data-sharing archive of the classes every
     * worker loads ({@link WorkerClassArchive}); workers with this handler's JVM options then map it, start
     * faster and share those pages
     */
    public void setWorkerClassArchive(boolean workerClassArchive)
    {
        this.workerClassArchive = workerClassArchive;
    }

    @ManagedAttribute("Whether a root front that the kernel's autogroup would schedule apart from its workers moves into a CPU cgroup of its own, shared with them")
    public boolean isCpuGroup()
    {
        return cpuGroup;
    }

    /**
     * @param cpuGroup whether, at start as root, the front moves its process into a CPU cgroup of its own when
     * the kernel's autogroup would otherwise make each worker's session a scheduling group apart from the front's
     * (the default); the workers it starts are born there ({@link CpuGroup})
     */
    public void setCpuGroup(boolean cpuGroup)
    {
        this.cpuGroup = cpuGroup;
    }

    @ManagedAttribute("Whether workers are exec'd through setpriv, so they never run as root")
    public boolean isUseSetpriv()
    {
        return useSetpriv;
    }

    /**
     * @param useSetpriv whether workers are exec'd through util-linux's {@code setpriv} (the default); false is
     * only for a front that is not root (tests, embedding as an unprivileged user): as root, {@link #start()} then
     * fails, as it does when {@code setpriv} is missing, since the worker JVM would start as root
     */
    public void setUseSetpriv(boolean useSetpriv)
    {
        this.useSetpriv = useSetpriv;
    }

    @ManagedAttribute("The user the front runs as once the server has started; null to stay root")
    public String getFrontUser()
    {
        return frontUser;
    }

    /**
     * @param frontUser a user name or number: once the server has started (its connectors bound), every thread of
     * the front switches to it for good, proven as a worker's drop, and a spawner started before, the only process
     * left as root, starts the workers; null (the default) keeps the front root, with a warning at start
     */
    public void setFrontUser(String frontUser)
    {
        this.frontUser = frontUser == null || frontUser.isBlank() ? null : frontUser.trim();
    }

    @ManagedAttribute("The group the front runs as once the server has started; null for frontUser's primary group")
    public String getFrontGroup()
    {
        return frontGroup;
    }

    /**
     * @param frontGroup a group name or number; null for {@link #setFrontUser(String) frontUser}'s primary group
     */
    public void setFrontGroup(String frontGroup)
    {
        this.frontGroup = frontGroup == null || frontGroup.isBlank() ? null : frontGroup.trim();
    }

    @ManagedAttribute("Directories where, with frontUser set, vhosts loaded after the drop may have their logFile")
    public List<Path> getLogDirectories()
    {
        return logDirectories;
    }

    /**
     * <p>With {@link #setFrontUser(String) frontUser} set, the spawner opens the tenant logs ({@code logFile}) of
     * the front, only directly in a directory the front named while it was root: these, and the directories of the
     * logs of the vhosts loaded at start. Each must be owned by root and writable by root only, on every directory
     * of its path (a missing one is made), or the start fails. Without {@code frontUser} they are not used.</p>
     *
     * @param directories absolute directories, separated by commas; blank for none
     */
    public void setLogDirectories(String directories)
    {
        List<Path> paths = new ArrayList<>();
        for (String directory : directories == null ? new String[0] : directories.split(","))
        {
            if (directory.isBlank())
                continue;
            Path path = Path.of(directory.trim());
            if (!path.isAbsolute())
                throw new IllegalArgumentException("log directory is not an absolute path: " + directory.trim());
            paths.add(path.normalize());
        }
        this.logDirectories = List.copyOf(paths);
    }

    /**
     * @return the identity the front drops to once started, or null if it keeps root
     */
    Identity getFrontIdentity()
    {
        return frontIdentity;
    }

    /**
     * @return the pid of the worker spawner, or 0 when the front keeps root and starts workers itself
     */
    @ManagedAttribute("Pid of the root worker spawner; 0 when the front starts workers itself")
    public synchronized long getSpawnerPid()
    {
        return launching != null ? launching.getSpawnerPid() : 0;
    }

    @ManagedAttribute("Directory holding the workers' home and temporary directories; null for a new temporary one")
    public Path getWorkDirectory()
    {
        return workDirectory;
    }

    public void setWorkDirectory(Path workDirectory)
    {
        this.workDirectory = workDirectory;
    }

    @ManagedAttribute("Longest wait for a new worker to be ready, in ms")
    public long getSpawnTimeoutMillis()
    {
        return spawnTimeout.toMillis();
    }

    public void setSpawnTimeoutMillis(long millis)
    {
        if (millis <= 0)
            throw new IllegalArgumentException("spawn timeout must be > 0: " + millis);
        this.spawnTimeout = Duration.ofMillis(millis);
    }

    @ManagedAttribute("Most workers per vhost")
    public int getMaxWorkersPerVirtualHost()
    {
        return maxWorkersPerVirtualHost;
    }

    public void setMaxWorkersPerVirtualHost(int max)
    {
        if (max < 1)
            throw new IllegalArgumentException("maxWorkersPerVirtualHost < 1: " + max);
        this.maxWorkersPerVirtualHost = max;
    }

    @ManagedAttribute("Most requests and WebSockets on one worker before another is used")
    public int getMaxStreamsPerWorker()
    {
        return maxStreamsPerWorker;
    }

    public void setMaxStreamsPerWorker(int max)
    {
        if (max < 1)
            throw new IllegalArgumentException("maxStreamsPerWorker < 1: " + max);
        this.maxStreamsPerWorker = max;
    }

    @ManagedAttribute("Default most requests of a vhost in flight; more get 503 with Retry-After")
    public int getMaxRequestsPerVirtualHost()
    {
        return maxRequestsPerVirtualHost;
    }

    public void setMaxRequestsPerVirtualHost(int max)
    {
        if (max < 1)
            throw new IllegalArgumentException("maxRequestsPerVirtualHost < 1: " + max);
        this.maxRequestsPerVirtualHost = max;
    }

    @ManagedAttribute("Default idle time after which a worker is reaped, in ms; 0 never")
    public long getIdleTimeoutMillis()
    {
        return idleTimeoutMillis;
    }

    public void setIdleTimeoutMillis(long millis)
    {
        this.idleTimeoutMillis = nonNegative("idleTimeoutMillis", millis);
    }

    @ManagedAttribute("Default requests after which a worker is recycled; 0 never")
    public long getMaxRequestsPerWorker()
    {
        return maxRequestsPerWorker;
    }

    public void setMaxRequestsPerWorker(long max)
    {
        this.maxRequestsPerWorker = nonNegative("maxRequestsPerWorker", max);
    }

    @ManagedAttribute("Default age after which a worker is recycled, in ms; 0 never")
    public long getMaxWorkerAgeMillis()
    {
        return maxWorkerAgeMillis;
    }

    public void setMaxWorkerAgeMillis(long millis)
    {
        this.maxWorkerAgeMillis = nonNegative("maxWorkerAgeMillis", millis);
    }

    @ManagedAttribute("Default time after which a request without a complete response gets 504, in ms; 0 never")
    public long getRequestTimeoutMillis()
    {
        return requestTimeoutMillis;
    }

    public void setRequestTimeoutMillis(long millis)
    {
        this.requestTimeoutMillis = nonNegative("requestTimeoutMillis", millis);
    }

    @ManagedAttribute("Default most WebSockets of a vhost open at once; more get 503 with Retry-After; 0 none")
    public int getMaxWebSocketsPerVirtualHost()
    {
        return maxWebSocketsPerVirtualHost;
    }

    public void setMaxWebSocketsPerVirtualHost(int max)
    {
        if (max < 0)
            throw new IllegalArgumentException("maxWebSocketsPerVirtualHost < 0: " + max);
        this.maxWebSocketsPerVirtualHost = max;
    }

    @ManagedAttribute("Default time after which a WebSocket that carried nothing either way is closed, in ms")
    public long getWebSocketIdleTimeoutMillis()
    {
        return webSocketIdleTimeoutMillis;
    }

    public void setWebSocketIdleTimeoutMillis(long millis)
    {
        if (millis < 1)
            throw new IllegalArgumentException("webSocketIdleTimeoutMillis < 1: " + millis);
        this.webSocketIdleTimeoutMillis = millis;
    }

    @ManagedAttribute("How long requests in flight may take to finish when a worker stops, in ms")
    public long getDrainTimeoutMillis()
    {
        return drainTimeoutMillis;
    }

    public void setDrainTimeoutMillis(long millis)
    {
        this.drainTimeoutMillis = nonNegative("drainTimeoutMillis", millis);
    }

    @ManagedAttribute("How long a stopped worker may take to exit before it is killed, in ms")
    public long getExitTimeoutMillis()
    {
        return exitTimeoutMillis;
    }

    public void setExitTimeoutMillis(long millis)
    {
        this.exitTimeoutMillis = nonNegative("exitTimeoutMillis", millis);
    }

    @ManagedAttribute("How long a worker's stdin may take nothing while the front has bytes for it before the worker is killed, in ms; 0 never")
    public long getWriteStallTimeoutMillis()
    {
        return writeStallTimeoutMillis;
    }

    public void setWriteStallTimeoutMillis(long millis)
    {
        this.writeStallTimeoutMillis = nonNegative("writeStallTimeoutMillis", millis);
    }

    @ManagedAttribute("Frames a worker may send in one second that oblige the front to answer or make no progress")
    public int getMaxWastedFramesPerSecond()
    {
        return maxWastedFramesPerSecond;
    }

    public void setMaxWastedFramesPerSecond(int max)
    {
        if (max < 1)
            throw new IllegalArgumentException("maxWastedFramesPerSecond < 1: " + max);
        this.maxWastedFramesPerSecond = max;
    }

    @ManagedAttribute("Frames the front may hold queued toward one worker before it is killed as not reading")
    public int getMaxQueuedFrames()
    {
        return maxQueuedFrames;
    }

    public void setMaxQueuedFrames(int max)
    {
        if (max < 1)
            throw new IllegalArgumentException("maxQueuedFrames < 1: " + max);
        this.maxQueuedFrames = max;
    }

    @ManagedAttribute("Unexpected worker exits of a vhost within crashIntervalMillis that pause its spawning")
    public int getCrashLimit()
    {
        return crashLimit;
    }

    public void setCrashLimit(int crashLimit)
    {
        if (crashLimit < 1)
            throw new IllegalArgumentException("crashLimit < 1: " + crashLimit);
        this.crashLimit = crashLimit;
    }

    @ManagedAttribute("The window in which crashLimit unexpected exits make a crash loop, in ms")
    public long getCrashIntervalMillis()
    {
        return crashIntervalMillis;
    }

    public void setCrashIntervalMillis(long millis)
    {
        this.crashIntervalMillis = positive("crashIntervalMillis", millis);
    }

    @ManagedAttribute("The first pause of a crash-looping vhost's spawning, in ms; doubled at each new loop")
    public long getMinCrashBackoffMillis()
    {
        return minCrashBackoffMillis;
    }

    public void setMinCrashBackoffMillis(long millis)
    {
        this.minCrashBackoffMillis = positive("minCrashBackoffMillis", millis);
    }

    @ManagedAttribute("The longest pause of a crash-looping vhost's spawning, in ms")
    public long getMaxCrashBackoffMillis()
    {
        return maxCrashBackoffMillis;
    }

    /**
     * @param millis the longest pause, at least {@link #getMinCrashBackoffMillis() minCrashBackoffMillis} (checked
     * at start, so that the two may be set in any order)
     */
    public void setMaxCrashBackoffMillis(long millis)
    {
        this.maxCrashBackoffMillis = positive("maxCrashBackoffMillis", millis);
    }

    @ManagedAttribute("How often each vhost's workers are checked (idle, worn out, not reading), in ms")
    public long getSweepIntervalMillis()
    {
        return sweepIntervalMillis;
    }

    public void setSweepIntervalMillis(long millis)
    {
        this.sweepIntervalMillis = positive("sweepIntervalMillis", millis);
    }

    @ManagedAttribute("Most worker processes of all vhosts at once; 0 no cap")
    public int getMaxWorkers()
    {
        return maxWorkers;
    }

    public void setMaxWorkers(int maxWorkers)
    {
        this.maxWorkers = (int)nonNegative("maxWorkers", maxWorkers);
    }

    @ManagedAttribute("Path of the JSON status page, answered for hosts no vhost serves, to the statusAllow clients; null for none")
    public String getStatusPath()
    {
        return statusPath;
    }

    /**
     * @param path a path such as {@code /itk-status}; the page answers only requests for a host that no vhost
     * serves (such as {@code 127.0.0.1}), so tenants' visitors never see it, and only to the clients
     * {@link #setStatusAllow(String) statusAllow} admits; null disables it
     */
    public void setStatusPath(String path)
    {
        if (path != null && !path.startsWith("/"))
            throw new IllegalArgumentException("status path must start with /: " + path);
        this.statusPath = path;
    }

    @ManagedAttribute("Clients that may read the status page: addresses, CIDR or a-b ranges, 'unix', comma-separated")
    public String getStatusAllow()
    {
        return statusAccess.getPatterns();
    }

    /**
     * <p>Sets who may read the status page, judged by the address of the client's connection (never by
     * {@code Host}, {@code Forwarded} or {@code X-Forwarded-For}) and, for a client on this machine, by the owner of
     * its socket: a vhost's uid never reads it. A client not admitted is answered as if there were no status
     * page.</p>
     *
     * @param allow comma-separated numeric addresses ({@code ::1}), CIDR ranges ({@code 127.0.0.0/8}), ranges
     * ({@code 192.0.2.1-192.0.2.9}) and {@code unix} for the clients of unix-domain connectors; empty admits
     * nobody; null restores the default, {@value StatusAccess#LOOPBACK}, loopback clients only
     * @throws IllegalArgumentException naming an entry that is none of these
     */
    public void setStatusAllow(String allow)
    {
        this.statusAccess = new StatusAccess(allow == null ? StatusAccess.LOOPBACK : allow);
    }

    private static long nonNegative(String name, long value)
    {
        if (value < 0)
            throw new IllegalArgumentException(name + " < 0: " + value);
        return value;
    }

    private static long positive(String name, long value)
    {
        if (value < 1)
            throw new IllegalArgumentException(name + " < 1: " + value);
        return value;
    }

    /**
     * @param launcher how workers are started; null for a {@link ProcessWorkerLauncher} from this handler's settings
     */
    public void setWorkerLauncher(WorkerLauncher launcher)
    {
        this.launcher = launcher;
    }

    /**
     * @return the pools of the configured vhosts, in no order
     */
    public synchronized List<WorkerPool> getWorkerPools()
    {
        return List.copyOf(pools.values());
    }

    /**
     * @return the server-wide worker budget, or null before start
     */
    public WorkerBudget getWorkerBudget()
    {
        return budget;
    }

    public synchronized WorkerPool getWorkerPool(VirtualHost virtualHost)
    {
        return pools.get(virtualHost);
    }

    @Override
    protected void doStart() throws Exception
    {
        FrontExchanges.checkFieldEncoders();
        shutdown.cancel();
        synchronized (this)
        {
            Map<VirtualHost, Identity> identities = resolveIdentities(virtualHosts);
            if (defaultVirtualHost != null && virtualHosts.stream().noneMatch(v -> defaultVirtualHost.equals(v.getName())))
                throw new IllegalStateException("default vhost '" + defaultVirtualHost + "' is not a configured vhost");
            frontIdentity = resolveFront(identities);
            // Started now, not by super.doStart(): the pools below take their launcher and HOMEs from it.
            WorkerLaunching started = new WorkerLaunching(launcher, javaCommand, workerClassPath, workerJvmOptions, useSetpriv, workerClassArchive,
                cpuGroup, workDirectory, frontIdentity, minId, maxId, logDirectories);
            started.start();
            launching = started;
            addBean(launching, true);
            try
            {
                client = newClient();
                addBean(client, true);
                budget = new WorkerBudget(maxWorkers);
                for (VirtualHost virtualHost : virtualHosts)
                {
                    WorkerPool pool = newPool(virtualHost, identities.get(virtualHost));
                    pools.put(virtualHost, pool);
                    addBean(pool, true);
                }
                routes = newRoutes();
            }
            catch (Throwable x)
            {
                // A vhost that cannot start (its log file, its HOME) leaves no spawner and no work directory behind.
                removeBean(launching);
                LifeCycle.stop(launching);
                launching = null;
                throw x;
            }
        }
        super.doStart();
        SpawnerLauncher spawner = launching.getSpawner();
        if (spawner != null)
            dropWhenStarted(spawner);
    }

    /**
     * @return the identity the front drops to, or null when {@code frontUser} is unset (then a warning)
     */
    private Identity resolveFront(Map<VirtualHost, Identity> identities)
    {
        if (frontUser == null)
        {
            LOG.warn("jetty.itk.frontUser is not set: the front keeps root while it serves; set jetty.itk.frontUser (ItkHandler.setFrontUser) so that only a small spawner keeps root");
            return null;
        }
        if (launcher != null)
            throw new IllegalStateException("frontUser '" + frontUser + "' needs the handler's own launcher, not " + launcher);
        Identity front;
        try
        {
            front = FrontPrivileges.resolve(Posix.get(), frontUser, frontGroup);
            if (Posix.get().geteuid() != 0)
                throw new IllegalStateException("frontUser '" + frontUser + "' is set but the front is not root: it has nothing to drop");
        }
        catch (IOException | IllegalArgumentException x)
        {
            throw new IllegalStateException(x.getMessage(), x);
        }
        for (Map.Entry<VirtualHost, Identity> entry : identities.entrySet())
        {
            if (entry.getValue().uid() == front.uid() || entry.getValue().gid() == front.gid())
                throw new IllegalStateException("vhost '" + entry.getKey().getName() + "': runs as the front's uid " + front.uid() + " or gid " + front.gid());
        }
        return front;
    }

    /**
     * Drops the front once its server has started, or now if it already has.
     */
    private void dropWhenStarted(SpawnerLauncher spawner)
    {
        Server server = getServer();
        if (server == null || server.isStarted())
        {
            dropFront(server, spawner);
            return;
        }
        server.addEventListener(new LifeCycle.Listener()
        {
            @Override
            public void lifeCycleStarted(LifeCycle event)
            {
                server.removeEventListener(this);
                dropFront(server, spawner);
            }
        });
    }

    private void dropFront(Server server, SpawnerLauncher spawner)
    {
        for (VirtualHostDirectory directory : getBeans(VirtualHostDirectory.class))
        {
            directory.onFrontDropping(frontIdentity);
        }
        try
        {
            FrontPrivileges.drop(frontIdentity);
            LOG.info("front dropped to {} uid={} gid={} with no-new-privs; worker spawner pid={} is the only process left as root",
                frontIdentity.user(), frontIdentity.uid(), frontIdentity.gid(), spawner.getSpawnerPid());
            spawner.dropped(null);
        }
        catch (PrivilegeException x)
        {
            LOG.error("front privilege drop to {} failed, stopping the server: {}", frontIdentity, x.getMessage());
            spawner.dropped(x);
            Thread stopper = new Thread(() -> LifeCycle.stop(server != null ? server : this), "itk-drop-failed");
            stopper.start();
        }
    }

    private WorkerPool newPool(VirtualHost virtualHost, Identity identity)
    {
        VhostSettings settings = settingsOf(virtualHost);
        tenantUids.add(identity.uid());
        // Said when the vhost is loaded, not only by a worker that fails later; it still loads: the app may come.
        String appProblem = AppCheck.problem(virtualHost.getApp(), identity);
        if (appProblem != null)
            LOG.warn("vhost {}: {}", virtualHost.getName(), appProblem);
        Path home;
        try
        {
            home = launching.prepareHome(virtualHost.getName(), identity);
        }
        catch (IOException x)
        {
            throw new IllegalStateException("vhost '" + virtualHost.getName() + "': cannot prepare its directory: " + x.getMessage(), x);
        }
        WorkerArguments arguments = new WorkerArguments(virtualHost.getName(), identity, virtualHost.getApp(), virtualHost.getHandlerClass(), virtualHost.getUmask(),
            new ProcessLimits(virtualHost.getNice(), virtualHost.getMaxOpenFiles(), virtualHost.getMaxProcesses(), virtualHost.getMaxAddressSpace(), virtualHost.getMaxCoreSize()),
            virtualHost.getJvmOptions() == null ? null : List.of(virtualHost.getJvmOptions().trim().split("\\s+")),
            virtualHost.getEnvironment(), DeploySettings.settingsOf(getServer()), virtualHost.getSessionStore());
        TenantLog log = null;
        if (virtualHost.getLogFile() != null)
        {
            try
            {
                // Once dropped, the front may not open or rename files in the root-only log directory: the spawner does.
                Path logFile = Path.of(virtualHost.getLogFile());
                SpawnerLauncher spawner = launching.getSpawner();
                log = spawner != null
                    ? TenantLog.throughSpawner(logFile, virtualHost.getMaxLogSize(), identity.gid(), spawner)
                    : new TenantLog(logFile, virtualHost.getMaxLogSize(), identity.gid());
            }
            catch (IOException x)
            {
                throw new IllegalStateException("vhost '" + virtualHost.getName() + "': log file " + virtualHost.getLogFile() + ": " + x.getMessage(), x);
            }
        }
        return new WorkerPool(arguments, settings, home, launching.getLauncher(), client, getServer().getScheduler(), budget, log);
    }

    /**
     * @throws IllegalStateException naming the vhost and the value, if a resolved value is out of its range
     */
    private VhostSettings settingsOf(VirtualHost virtualHost)
    {
        try
        {
            return VhostSettings.of(virtualHost, this);
        }
        catch (IllegalArgumentException x)
        {
            throw new IllegalStateException(x.getMessage(), x);
        }
    }

    private Routes newRoutes()
    {
        HostTable<WorkerPool> table = new HostTable<>();
        WorkerPool defaultPool = null;
        for (Map.Entry<VirtualHost, WorkerPool> entry : pools.entrySet())
        {
            for (String hostName : entry.getKey().getHostNames())
            {
                table.put(hostName, entry.getValue());
            }
            if (entry.getKey().getName().equals(defaultVirtualHost))
                defaultPool = entry.getValue();
        }
        return new Routes(table, defaultPool);
    }

    private Map<VirtualHost, Identity> resolveIdentities(List<VirtualHost> virtualHosts)
    {
        IdentityResolver resolver;
        try
        {
            resolver = new IdentityResolver(Posix.get());
        }
        catch (IOException x)
        {
            throw new IllegalStateException("cannot resolve identities: " + x.getMessage(), x);
        }
        resolver.setMinId(minId);
        resolver.setMaxId(maxId);
        Map<VirtualHost, Identity> identities = new HashMap<>();
        Map<String, String> names = new HashMap<>();
        HostTable<String> hosts = new HostTable<>();
        for (VirtualHost virtualHost : virtualHosts)
        {
            String name = virtualHost.getName();
            if (name == null)
                throw new IllegalStateException("a vhost has neither a name nor a host name: " + virtualHost);
            if (names.putIfAbsent(name, name) != null)
                throw new IllegalStateException("vhost '" + name + "': duplicate vhost name");
            if (virtualHost.getHostNames().isEmpty())
                throw new IllegalStateException("vhost '" + name + "': no host name");
            if (virtualHost.getApp() == null || virtualHost.getApp().isBlank())
                throw new IllegalStateException("vhost '" + name + "': no app");
            settingsOf(virtualHost);
            try
            {
                ProcessWorkerLauncher.checkEnvironment(name, virtualHost.getEnvironment());
            }
            catch (IllegalArgumentException x)
            {
                throw new IllegalStateException(x.getMessage(), x);
            }
            for (String hostName : virtualHost.getHostNames())
            {
                String previous;
                try
                {
                    previous = hosts.put(hostName, name);
                }
                catch (IllegalArgumentException x)
                {
                    throw new IllegalStateException("vhost '" + name + "': " + x.getMessage(), x);
                }
                if (previous != null)
                    throw new IllegalStateException("vhost '" + name + "': duplicate host name '" + hostName + "', already in vhost '" + previous + "'");
            }
            try
            {
                identities.put(virtualHost, resolver.resolve(name, virtualHost.getUser(), virtualHost.getGroup(), virtualHost.getGroups()));
            }
            catch (IllegalArgumentException x)
            {
                throw new IllegalStateException(x.getMessage(), x);
            }
        }
        return identities;
    }

    /**
     * @return the workers' class-data-sharing archive being trained or trained, or null if none is
     */
    public synchronized WorkerClassArchive getActiveClassArchive()
    {
        return launching != null ? launching.getClassArchive() : null;
    }

    private HTTP2Client newClient()
    {
        HTTP2Client client = new HTTP2Client();
        client.setExecutor(getServer().getThreadPool());
        client.setScheduler(getServer().getScheduler());
        client.setByteBufferPool(getServer().getByteBufferPool());
        Wire.configureFront(client);
        return client;
    }

    @Override
    public CompletableFuture<Void> shutdown()
    {
        return shutdown.shutdown();
    }

    @Override
    public boolean isShutdown()
    {
        return shutdown.isShutdown();
    }

    /**
     * @return the requests given to a vhost's workers and not yet completed, of all vhosts
     */
    @ManagedAttribute("Requests in flight to workers, of all vhosts")
    public int getRequestsInFlight()
    {
        return inFlight.get();
    }

    @Override
    protected void doStop() throws Exception
    {
        int left = inFlight.get();
        if (isShutdown() && left > 0)
            LOG.warn("stopping with {} requests still in flight after the graceful stop: aborted", left);
        routes = Routes.NONE;
        // Every vhost's workers drain at once, not one pool after the other; the retired ones too.
        List<WorkerPool> stopping;
        synchronized (this)
        {
            stopping = new ArrayList<>(pools.values());
        }
        stopping.addAll(retiring);
        CompletableFuture.allOf(stopping.stream()
            .map(pool -> CompletableFuture.runAsync(() -> LifeCycle.stop(pool), runnable ->
            {
                Thread stopper = new Thread(runnable, "itk-stop-" + pool.getName());
                stopper.setDaemon(true);
                stopper.start();
            }))
            .toArray(CompletableFuture[]::new)).join();
        retiring.clear();
        super.doStop();
        synchronized (this)
        {
            for (WorkerPool pool : pools.values())
            {
                removeBean(pool);
            }
            pools.clear();
            removeBean(client);
            client = null;
            // Stopped by super.doStop(), after the client: the spawner, or the front, deletes the work directory.
            removeBean(launching);
            launching = null;
        }
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception
    {
        Routes routes = this.routes;
        WorkerPool matched = routes.table().get(request.getHttpURI().getHost());
        WorkerPool pool = matched != null ? matched : routes.defaultPool();
        if (pool == null)
        {
            if (statusPath != null && statusPath.equals(request.getHttpURI().getPath()) && statusAccess.isAllowed(request, this::isTenantUid))
            {
                ItkStatus.write(this, response, callback);
                return true;
            }
            Handler next = getHandler();
            if (next != null)
                return next.handle(request, response, callback);
            Response.writeError(request, response, callback, HttpStatus.NOT_FOUND_404, "No such virtual host");
            return true;
        }
        if (isShutdown())
        {
            // Stopping: the requests in flight finish, new ones go elsewhere.
            response.getHeaders().put(HttpHeader.CONNECTION, HttpHeaderValue.CLOSE);
            onUnavailable(pool, request, response, callback, new PoolBusyException("server stopping"));
            return true;
        }
        if (!pool.tryEnter())
        {
            onUnavailable(pool, request, response, callback, new PoolBusyException("vhost " + pool.getName() + ": " + pool.getMaxRequests() + " requests in flight"));
            return true;
        }
        inFlight.incrementAndGet();
        Callback exit = new Callback.Nested(callback)
        {
            @Override
            public void succeeded()
            {
                exit();
                super.succeeded();
            }

            @Override
            public void failed(Throwable x)
            {
                exit();
                super.failed(x);
            }

            private void exit()
            {
                pool.exit();
                inFlight.decrementAndGet();
                shutdown.check();
            }
        };
        pool.acquire().whenComplete((worker, failure) ->
        {
            if (failure == null)
                FrontExchanges.forward(worker, request, response, exit);
            else
                onUnavailable(pool, request, response, exit, failure);
        });
        return true;
    }

    /**
     * @return whether a vhost runs or ran as this uid: its processes never read the status page
     */
    private boolean isTenantUid(int uid)
    {
        return tenantUids.contains(uid);
    }

    private void onUnavailable(WorkerPool pool, Request request, Response response, Callback callback, Throwable failure)
    {
        Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
        if (!(cause instanceof PoolBusyException))
        {
            // A client can repeat a request to a broken vhost without end: one WARN per interval, not one each.
            long unlogged = unavailableWarnings.computeIfAbsent(pool.getName(), name -> new UnavailableWarnings(System::nanoTime,
                TimeUnit.SECONDS.toNanos(UNAVAILABLE_WARN_INTERVAL_SECONDS))).next();
            if (unlogged >= 0)
                LOG.warn("vhost {} unavailable: {}{}", pool.getName(), cause.toString(), unlogged == 0 ? "" : " (and " + unlogged + " requests since the last warning)");
            else if (LOG.isDebugEnabled())
                LOG.debug("vhost {} unavailable: {}", pool.getName(), cause.toString());
        }
        response.getHeaders().put(HttpHeader.RETRY_AFTER, Integer.toString(RETRY_AFTER_SECONDS));
        Response.writeError(request, response, callback, HttpStatus.SERVICE_UNAVAILABLE_503, "Service Unavailable: " + pool.getName());
    }

    @Override
    public void dump(Appendable out, String indent) throws IOException
    {
        dumpObjects(out, indent, new org.eclipse.jetty.util.component.DumpableCollection("vhosts", getVirtualHosts()));
    }

    /**
     * When the last WARN that a vhost is unavailable was logged, and how many failed requests were not logged since.
     */
    static final class UnavailableWarnings
    {
        private final LongSupplier nanoClock;
        private final long intervalNanos;
        private long lastNanos;
        private boolean warned;
        private long unlogged;

        UnavailableWarnings(LongSupplier nanoClock, long intervalNanos)
        {
            this.nanoClock = nanoClock;
            this.intervalNanos = intervalNanos;
        }

        /**
         * @return the requests not logged since the last WARN if this one is to be logged, else -1
         */
        synchronized long next()
        {
            long now = nanoClock.getAsLong();
            if (warned && now - lastNanos < intervalNanos)
            {
                unlogged++;
                return -1;
            }
            long previous = unlogged;
            warned = true;
            lastNanos = now;
            unlogged = 0;
            return previous;
        }
    }

    /**
     * What {@link #handle(Request, Response, Callback)} reads, replaced as a whole on every change.
     */
    private record Routes(HostTable<WorkerPool> table, WorkerPool defaultPool)
    {
        static final Routes NONE = new Routes(new HostTable<>(), null);
    }

    @Override
    public String toString()
    {
        return "%s@%x[vhosts=%d,default=%s,ids=%d..%d,%s]".formatted(getClass().getSimpleName(), hashCode(), virtualHosts.size(), defaultVirtualHost, minId, maxId, getState());
    }
}
