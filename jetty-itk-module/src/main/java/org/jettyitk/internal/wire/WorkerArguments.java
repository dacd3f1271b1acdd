package org.jettyitk.internal.wire;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.jettyitk.internal.posix.Identity;

/**
 * <p>What the front tells a worker: whom to run as, what to deploy and the limits of the process. The front
 * encodes them with {@link #encode()} into the worker's environment variable {@value #ENVIRONMENT_VARIABLE}, one
 * argument a line, the worker reads them with {@link #decode(String)}: unlike the world-readable
 * {@code /proc/PID/cmdline}, {@code /proc/PID/environ} is readable by the worker's uid and root alone, so one
 * tenant does not learn where another's app is. The JVM options and the environment additions are applied by the
 * launcher and do not travel as arguments.</p>
 * <pre>
 *   --vhost alice --user alice --uid 41001 --gid 41001 --groups 41001,41005
 *   --app /srv/alice/site.war [--handler-class com.example.Hello] --umask 027
 *   [--nice 5] [--rlimit-nofile 4096] [--rlimit-nproc 256] [--rlimit-as N] [--rlimit-core 0]
 *   [--deploy jetty.deploy.containerScanJarPattern=.*jstl.*\.jar$ ...] [--sessions file]
 * </pre>
 *
 * @param vhost the name of the vhost, for logs
 * @param identity the identity to run as and to verify
 * @param app the application: a directory, an exploded webapp or a {@code .war}, or the class path of a handler
 * @param handlerClass a {@code org.eclipse.jetty.server.Handler} class to load from {@code app}, or null
 * @param umask the file mode creation mask
 * @param limits the process limits, applied before the privilege drop is proven
 * @param jvmOptions the worker's JVM options, or null for the launcher's
 * @param environment variables added to the worker's clean environment
 * @param deploySettings the base's settings for deploying a webapp, the same for every vhost (see {@code org.jettyitk.internal.worker.WebAppDeployment})
 * @param sessionStore where the app's HTTP sessions are kept (see {@link SessionStore}), null for the default
 */
public record WorkerArguments(String vhost, Identity identity, String app, String handlerClass, int umask,
                              ProcessLimits limits, List<String> jvmOptions, Map<String, String> environment,
                              Map<String, String> deploySettings, String sessionStore)
{
    /** The worker's environment variable holding its arguments. */
    public static final String ENVIRONMENT_VARIABLE = "JETTY_ITK_WORKER";
    /** The worker's main class, which reads these arguments: named here so that launching needs none of the worker's classes. */
    public static final String MAIN_CLASS = "org.jettyitk.internal.worker.WorkerMain";

    public WorkerArguments
    {
        sessionStore = SessionStore.check(sessionStore != null ? sessionStore : SessionStore.FILE);
        limits = limits != null ? limits : ProcessLimits.NONE;
        jvmOptions = jvmOptions != null ? List.copyOf(jvmOptions) : null;
        environment = environment != null ? Map.copyOf(environment) : Map.of();
        // Ordered, so that the command line is the same from one spawn to the next.
        deploySettings = deploySettings != null ? Collections.unmodifiableMap(new LinkedHashMap<>(deploySettings)) : Map.of();
    }

    public WorkerArguments(String vhost, Identity identity, String app, String handlerClass, int umask,
                           ProcessLimits limits, List<String> jvmOptions, Map<String, String> environment,
                           Map<String, String> deploySettings)
    {
        this(vhost, identity, app, handlerClass, umask, limits, jvmOptions, environment, deploySettings, null);
    }

    public WorkerArguments(String vhost, Identity identity, String app, String handlerClass, int umask,
                           ProcessLimits limits, List<String> jvmOptions, Map<String, String> environment)
    {
        this(vhost, identity, app, handlerClass, umask, limits, jvmOptions, environment, Map.of(), null);
    }

    public WorkerArguments(String vhost, Identity identity, String app, String handlerClass, int umask)
    {
        this(vhost, identity, app, handlerClass, umask, ProcessLimits.NONE, null, Map.of(), Map.of(), null);
    }

    public List<String> toArguments()
    {
        List<String> args = new ArrayList<>(List.of(
            "--vhost", vhost,
            "--user", identity.user(),
            "--uid", Integer.toString(identity.uid()),
            "--gid", Integer.toString(identity.gid()),
            "--groups", join(identity.groups()),
            "--app", app,
            "--umask", Integer.toOctalString(umask)));
        if (handlerClass != null)
            args.addAll(List.of("--handler-class", handlerClass));
        limits.addArguments(args);
        deploySettings.forEach((name, value) -> args.addAll(List.of("--deploy", name + "=" + value)));
        args.addAll(List.of("--sessions", sessionStore));
        return args;
    }

    /**
     * @return the arguments, one a line, for {@value #ENVIRONMENT_VARIABLE}
     * @throws IllegalArgumentException for an argument holding a line feed or a NUL
     */
    public String encode()
    {
        List<String> args = toArguments();
        for (String arg : args)
        {
            if (arg.indexOf('\n') >= 0 || arg.indexOf('\0') >= 0)
                throw new IllegalArgumentException("worker argument with a line feed or NUL: '" + arg + "'");
        }
        return String.join("\n", args);
    }

    /**
     * @param encoded what {@link #encode()} made, null if the variable is not set
     * @return the arguments
     * @throws IllegalArgumentException naming the first bad or missing option
     */
    public static WorkerArguments decode(String encoded)
    {
        if (encoded == null)
            throw new IllegalArgumentException(ENVIRONMENT_VARIABLE + " is not set");
        return parse(encoded.split("\n", -1));
    }

    private static String join(int[] ids)
    {
        return String.join(",", Arrays.stream(ids).mapToObj(Integer::toString).toList());
    }

    /**
     * @param args the worker's command line
     * @return the arguments
     * @throws IllegalArgumentException naming the first bad or missing option
     */
    public static WorkerArguments parse(String[] args)
    {
        String vhost = null;
        String user = null;
        String app = null;
        String handlerClass = null;
        Integer uid = null;
        Integer gid = null;
        int[] groups = null;
        int umask = 027;
        ProcessLimits limits = ProcessLimits.NONE;
        Map<String, String> deploySettings = new LinkedHashMap<>();
        String sessionStore = null;
        for (int i = 0; i < args.length; i += 2)
        {
            if (i + 1 >= args.length)
                throw new IllegalArgumentException("option without value: " + args[i]);
            String value = args[i + 1];
            switch (args[i])
            {
                case "--vhost" -> vhost = value;
                case "--user" -> user = value;
                case "--uid" -> uid = Integer.parseInt(value);
                case "--gid" -> gid = Integer.parseInt(value);
                case "--groups" -> groups = value.isEmpty() ? new int[0] : Arrays.stream(value.split(",")).mapToInt(Integer::parseInt).toArray();
                case "--app" -> app = value;
                case "--handler-class" -> handlerClass = value;
                case "--umask" -> umask = Integer.parseInt(value, 8);
                case "--deploy" ->
                {
                    int equals = value.indexOf('=');
                    if (equals <= 0)
                        throw new IllegalArgumentException("--deploy takes name=value: " + value);
                    deploySettings.put(value.substring(0, equals), value.substring(equals + 1));
                }
                case "--sessions" -> sessionStore = SessionStore.check(value);
                default -> limits = limits.with(args[i], value);
            }
        }
        if (vhost == null || user == null || uid == null || gid == null || groups == null || app == null)
            throw new IllegalArgumentException("required: --vhost --user --uid --gid --groups --app; got " + Arrays.toString(args));
        return new WorkerArguments(vhost, new Identity(user, uid, gid, groups), app, handlerClass, umask, limits, null, Map.of(), deploySettings, sessionStore);
    }
}
