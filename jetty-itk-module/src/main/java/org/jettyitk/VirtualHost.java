package org.jettyitk;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import org.eclipse.jetty.util.annotation.ManagedAttribute;
import org.eclipse.jetty.util.annotation.ManagedObject;
import org.jettyitk.internal.wire.SessionStore;

/**
 * <p>One tenant: the host names it answers, the Unix identity its code runs as, and its application.
 * A plain bean with setters, so Jetty XML and Java configure it alike.</p>
 * <pre>{@code
 * VirtualHost alice = new VirtualHost("alice");
 * alice.setHostNames("alice.example.com", "*.alice.example.com");
 * alice.setUser("alice");          // or a number: "41001"
 * alice.setGroup("alice");         // optional: the user's primary group
 * alice.setGroups("41005");        // optional: default is the user's groups (initgroups)
 * alice.setApp("/srv/alice/site.war");
 * itkHandler.addVirtualHost(alice);
 * }</pre>
 * <p>An app is a directory of static files, an exploded webapp or a {@code .war}, or, with
 * {@link #setHandlerClass(String)}, a Jetty {@code Handler} class loaded from the app directory or jar.
 * Values are checked when the {@link ItkHandler} starts; errors name this vhost.</p>
 */
@ManagedObject("A virtual host served under its own Unix identity")
public class VirtualHost
{
    /** Default file mode creation mask of a worker: nothing for others. */
    public static final int DEFAULT_UMASK = 027;
    /** A setting left {@code UNSET} takes the {@link ItkHandler}'s value. */
    public static final int UNSET = -1;
    /** The worker's stderr log is rotated (one {@code .1} kept) past this size. */
    public static final long DEFAULT_MAX_LOG_SIZE = 10 * 1024 * 1024;

    private String name;
    private final List<String> hostNames = new ArrayList<>();
    private String user;
    private String group;
    private List<String> groups;
    private String app;
    private String handlerClass;
    private int umask = DEFAULT_UMASK;
    private int maxWorkers = UNSET;
    private int maxRequests = UNSET;
    private long idleTimeoutMillis = UNSET;
    private long maxRequestsPerWorker = UNSET;
    private long maxWorkerAgeMillis = UNSET;
    private long requestTimeoutMillis = UNSET;
    private int maxWebSockets = UNSET;
    private long webSocketIdleTimeoutMillis = UNSET;
    private String jvmOptions;
    private int nice;
    private long maxOpenFiles = UNSET;
    private long maxProcesses = UNSET;
    private long maxAddressSpace = UNSET;
    private long maxCoreSize = 0;
    private final Map<String, String> environment = new LinkedHashMap<>();
    private String logFile;
    private long maxLogSize = DEFAULT_MAX_LOG_SIZE;
    private String sessionStore = SessionStore.FILE;

    public VirtualHost()
    {
    }

    public VirtualHost(String name)
    {
        this.name = name;
    }

    @ManagedAttribute("The name of this vhost, used in logs and errors")
    public String getName()
    {
        return name != null ? name : hostNames.isEmpty() ? null : hostNames.get(0);
    }

    public void setName(String name)
    {
        this.name = name;
    }

    @ManagedAttribute("Host names: exact, or *.domain for one more label")
    public List<String> getHostNames()
    {
        return List.copyOf(hostNames);
    }

    public void setHostNames(String... names)
    {
        hostNames.clear();
        for (String hostName : names)
        {
            addHostName(hostName);
        }
    }

    public void addHostName(String hostName)
    {
        hostNames.add(Objects.requireNonNull(hostName, "hostName"));
    }

    @ManagedAttribute("The user the code runs as: a name or a number")
    public String getUser()
    {
        return user;
    }

    public void setUser(String user)
    {
        this.user = user;
    }

    @ManagedAttribute("The group: a name or a number; null for the user's primary group")
    public String getGroup()
    {
        return group;
    }

    public void setGroup(String group)
    {
        this.group = group;
    }

    @ManagedAttribute("Supplementary groups; null for the user's groups (initgroups)")
    public List<String> getGroups()
    {
        return groups;
    }

    /**
     * @param groups supplementary groups, names or numbers; none for no supplementary group besides the group
     */
    public void setGroups(String... groups)
    {
        this.groups = new ArrayList<>(Arrays.asList(groups));
    }

    /**
     * @param groups a comma-separated list of groups, as a Jetty XML property would give it
     */
    public void setGroupList(String groups)
    {
        setGroups(groups.isBlank() ? new String[0] : groups.trim().split("\\s*,\\s*"));
    }

    @ManagedAttribute("The application: static directory, webapp directory or .war, or handler class path")
    public String getApp()
    {
        return app;
    }

    public void setApp(String app)
    {
        this.app = app;
    }

    @ManagedAttribute("A Handler class to load from the app, or null")
    public String getHandlerClass()
    {
        return handlerClass;
    }

    public void setHandlerClass(String handlerClass)
    {
        this.handlerClass = handlerClass;
    }

    @ManagedAttribute("The worker's file mode creation mask")
    public int getUmask()
    {
        return umask;
    }

    public void setUmask(int umask)
    {
        if (umask < 0 || umask > 0777)
            throw new IllegalArgumentException("umask out of range 0..0777: " + Integer.toOctalString(umask));
        this.umask = umask;
    }

    @ManagedAttribute("Most workers of this vhost; -1 for the handler's")
    public int getMaxWorkers()
    {
        return maxWorkers;
    }

    public void setMaxWorkers(int maxWorkers)
    {
        this.maxWorkers = atLeast("maxWorkers", maxWorkers, 1);
    }

    @ManagedAttribute("Most requests of this vhost in flight, more get 503; -1 for the handler's")
    public int getMaxRequests()
    {
        return maxRequests;
    }

    public void setMaxRequests(int maxRequests)
    {
        this.maxRequests = atLeast("maxRequests", maxRequests, 1);
    }

    @ManagedAttribute("Idle worker reaped after this many ms, 0 never; -1 for the handler's")
    public long getIdleTimeoutMillis()
    {
        return idleTimeoutMillis;
    }

    public void setIdleTimeoutMillis(long millis)
    {
        this.idleTimeoutMillis = atLeast("idleTimeoutMillis", millis, 0);
    }

    @ManagedAttribute("Worker recycled after this many requests, 0 never; -1 for the handler's")
    public long getMaxRequestsPerWorker()
    {
        return maxRequestsPerWorker;
    }

    public void setMaxRequestsPerWorker(long max)
    {
        this.maxRequestsPerWorker = atLeast("maxRequestsPerWorker", max, 0);
    }

    @ManagedAttribute("Worker recycled after this many ms, 0 never; -1 for the handler's")
    public long getMaxWorkerAgeMillis()
    {
        return maxWorkerAgeMillis;
    }

    public void setMaxWorkerAgeMillis(long millis)
    {
        this.maxWorkerAgeMillis = atLeast("maxWorkerAgeMillis", millis, 0);
    }

    @ManagedAttribute("504 after this many ms without a complete response, 0 never; -1 for the handler's")
    public long getRequestTimeoutMillis()
    {
        return requestTimeoutMillis;
    }

    public void setRequestTimeoutMillis(long millis)
    {
        this.requestTimeoutMillis = atLeast("requestTimeoutMillis", millis, 0);
    }

    @ManagedAttribute("Most WebSockets of this vhost open at once, more get 503, 0 none; -1 for the handler's")
    public int getMaxWebSockets()
    {
        return maxWebSockets;
    }

    public void setMaxWebSockets(int max)
    {
        this.maxWebSockets = atLeast("maxWebSockets", max, 0);
    }

    @ManagedAttribute("A WebSocket idle this many ms is closed; -1 for the handler's")
    public long getWebSocketIdleTimeoutMillis()
    {
        return webSocketIdleTimeoutMillis;
    }

    public void setWebSocketIdleTimeoutMillis(long millis)
    {
        this.webSocketIdleTimeoutMillis = atLeast("webSocketIdleTimeoutMillis", millis, 1);
    }

    @ManagedAttribute("Worker JVM options, space-separated; null for the handler's")
    public String getJvmOptions()
    {
        return jvmOptions;
    }

    /**
     * @param options space-separated JVM options that replace the handler's, such as {@code -Xmx512m}
     */
    public void setJvmOptions(String options)
    {
        this.jvmOptions = options;
    }

    @ManagedAttribute("Nice value added to the worker, 0..19")
    public int getNice()
    {
        return nice;
    }

    public void setNice(int nice)
    {
        if (nice < 0 || nice > 19)
            throw new IllegalArgumentException("nice outside 0..19: " + nice);
        this.nice = nice;
    }

    @ManagedAttribute("RLIMIT_NOFILE of the worker; -1 inherited")
    public long getMaxOpenFiles()
    {
        return maxOpenFiles;
    }

    public void setMaxOpenFiles(long max)
    {
        this.maxOpenFiles = atLeast("maxOpenFiles", max, 0);
    }

    @ManagedAttribute("RLIMIT_NPROC of the worker (all processes and threads of its uid); -1 inherited")
    public long getMaxProcesses()
    {
        return maxProcesses;
    }

    public void setMaxProcesses(long max)
    {
        this.maxProcesses = atLeast("maxProcesses", max, 0);
    }

    @ManagedAttribute("RLIMIT_AS of the worker in bytes; -1 inherited")
    public long getMaxAddressSpace()
    {
        return maxAddressSpace;
    }

    public void setMaxAddressSpace(long max)
    {
        this.maxAddressSpace = atLeast("maxAddressSpace", max, 0);
    }

    @ManagedAttribute("RLIMIT_CORE of the worker in bytes; 0 by default, -1 inherited")
    public long getMaxCoreSize()
    {
        return maxCoreSize;
    }

    public void setMaxCoreSize(long max)
    {
        this.maxCoreSize = max < 0 ? UNSET : max;
    }

    @ManagedAttribute("Variables added to the worker's clean environment")
    public Map<String, String> getEnvironment()
    {
        return Map.copyOf(environment);
    }

    public void addEnvironment(String name, String value)
    {
        if (name == null || name.isEmpty() || name.indexOf('=') >= 0 || name.indexOf(0) >= 0)
            throw new IllegalArgumentException("invalid environment variable name: " + name);
        environment.put(name, value);
    }

    public void setEnvironment(Map<String, String> variables)
    {
        environment.clear();
        variables.forEach(this::addEnvironment);
    }

    @ManagedAttribute("File the worker's stderr is appended to; null for the server log")
    public String getLogFile()
    {
        return logFile;
    }

    /**
     * @param logFile a file in a directory that only root can write (checked at start: the front opens it as root;
     * with the handler's {@code frontUser} set, the root spawner opens it, in a directory named before the front's
     * drop: {@code logDirectories} or that of a vhost loaded at start)
     */
    public void setLogFile(String logFile)
    {
        this.logFile = logFile;
    }

    @ManagedAttribute("Size past which the log file is rotated, in bytes")
    public long getMaxLogSize()
    {
        return maxLogSize;
    }

    public void setMaxLogSize(long maxLogSize)
    {
        this.maxLogSize = atLeast("maxLogSize", maxLogSize, 1024);
    }

    @ManagedAttribute("Where the app's HTTP sessions are kept: file, memory, or a Jetty XML file the worker evaluates")
    public String getSessionStore()
    {
        return sessionStore;
    }

    /**
     * <p>Where the app's HTTP sessions are kept, so that they outlive its workers (see {@code docs/sessions.md}):</p>
     * <ul>
     *   <li>{@code file}, the default: in files of the worker's home ({@code sessions/}, mode 0700), created and
     *   written by the worker as the vhost's user;</li>
     *   <li>{@code memory}: in the worker's memory only, Jetty's default: lost when the worker goes;</li>
     *   <li>the absolute path of a Jetty XML file that adds a {@code SessionDataStoreFactory} (and, if it wants, a
     *   {@code SessionCacheFactory}) to {@code <Configure id="Server">}, such as Jetty's
     *   {@code JDBCSessionDataStoreFactory}, for a store that several fronts share. The worker evaluates it after
     *   its privilege drop, as the vhost's user, which must be able to read it; the front never opens it.</li>
     * </ul>
     *
     * @param sessionStore {@code file}, {@code memory} or an absolute path
     * @throws IllegalArgumentException naming any other value
     */
    public void setSessionStore(String sessionStore)
    {
        this.sessionStore = SessionStore.check(sessionStore);
    }

    private static int atLeast(String name, int value, int min)
    {
        return (int)atLeast(name, (long)value, min);
    }

    private static long atLeast(String name, long value, long min)
    {
        if (value != UNSET && value < min)
            throw new IllegalArgumentException(name + " < " + min + ": " + value);
        return value;
    }

    @Override
    public String toString()
    {
        return "%s@%x[name=%s,hosts=%s,user=%s,group=%s,app=%s]".formatted(getClass().getSimpleName(), hashCode(), getName(), hostNames, user, group, app);
    }
}
