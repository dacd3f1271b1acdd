package org.jettyitk.internal.launch;

import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.GatheringByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import org.jettyitk.internal.posix.DescriptorChannel;
import org.jettyitk.internal.posix.Identity;
import org.jettyitk.internal.posix.Posix;
import org.jettyitk.internal.wire.Wire;
import org.jettyitk.internal.wire.WorkerArguments;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>Launches a worker JVM so that it never runs as root and nothing a vhost configures reaches a process that
 * still has privileges:</p>
 * <pre>
 *   setsid -- setpriv --reuid=U --regid=G --groups=... --inh-caps=-all --bounding-set=-all --no-new-privs --
 *     [/bin/sh -c 'unset PWD; export NAME="$JETTY_ITK_ENV_NAME"; unset JETTY_ITK_ENV_NAME; exec "$@"' jetty-itk-worker]
 *     java [options] -cp CLASS_PATH org.jettyitk.internal.worker.WorkerMain
 * </pre>
 * <ul>
 *   <li>util-linux {@code setsid}: a new session and process group, with no controlling terminal, before
 *   anything else runs (tenant code must not reach the terminal of the admin who started the server); the
 *   returned {@link WorkerProcess} signals that group.</li>
 *   <li>util-linux {@code setpriv} switches groups, gid and uid, clears the inheritable and bounding capability
 *   sets and sets no-new-privs before {@code exec}. The worker still proves the drop itself. No {@code setpriv},
 *   no workers: as root, a missing one or {@code useSetpriv=false} fails the constructor.</li>
 *   <li>{@code setsid} and {@code setpriv} see only a clean environment: an allow-list ({@link
 *   #ENVIRONMENT_ALLOW_LIST} from the front's, when set) plus the worker's own {@code HOME}, {@code TMPDIR},
 *   {@code USER}, {@code LOGNAME}, {@link #DEFAULT_MALLOC_ARENA_MAX}. The vhost's variables travel renamed
 *   ({@value #ENVIRONMENT_PREFIX}NAME, which neither the dynamic loader nor the C library reads), and a shell,
 *   already running as the tenant, gives them their names. {@link #checkEnvironment(String, Map)} refuses at
 *   start the variables that change how a program loads or runs.</li>
 *   <li>Nothing a tenant should not learn of another is on the world-readable {@code /proc/PID/cmdline}: the
 *   {@link WorkerArguments} travel in {@value WorkerArguments#ENVIRONMENT_VARIABLE} and a vhost's own JVM options
 *   in {@code JDK_JAVA_OPTIONS}, which only the worker's uid (and root) can read in {@code /proc/PID/environ}.</li>
 *   <li>The protocol pipes are the front's own: it makes them, gives the child its ends, and keeps descriptors
 *   of its own ends, so it never has to open the worker's {@code /proc/PID/fd}.</li>
 * </ul>
 */
public class ProcessWorkerLauncher implements WorkerLauncher
{
    private static final Logger LOG = LoggerFactory.getLogger(ProcessWorkerLauncher.class);
    public static final List<String> ENVIRONMENT_ALLOW_LIST = List.of("LANG", "LC_ALL", "TZ");
    public static final String DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin";
    public static final String SETPRIV = "/usr/bin/setpriv";
    public static final String SETSID = "/usr/bin/setsid";
    /** The shell that names the vhost's variables, after the drop. */
    public static final String SHELL = "/bin/sh";
    /** Prefix of a vhost's variables until the shell, running as the tenant, gives them their names. */
    public static final String ENVIRONMENT_PREFIX = "JETTY_ITK_ENV_";
    /**
     * glibc's {@code MALLOC_ARENA_MAX} for workers: by default glibc gives each busy thread its own malloc arena,
     * and the memory the JIT compilers free there stays in the worker's resident set.
     */
    public static final String DEFAULT_MALLOC_ARENA_MAX = "2";
    /** Names a shell can export: POSIX's portable variable names. */
    private static final Pattern PORTABLE_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
    /**
     * Variables a vhost may not set: what the dynamic loader, the C library (glibc's list of variables unsafe
     * for a privileged program) or the JVM act on before the app runs, and the launcher's own.
     */
    private static final Set<String> REFUSED_VARIABLES = Set.of(
        "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH", "MALLOC_TRACE",
        "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS", "TMPDIR", "TZDIR",
        "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH");
    private static final List<String> REFUSED_PREFIXES = List.of("LD_", "JETTY_ITK_");

    private final String javaCommand;
    private final String classPath;
    private final List<String> jvmOptions;
    private final boolean useSetpriv;
    private final WorkerClassArchive classArchive;
    private final Path setpriv;
    private final Path setsid;

    public ProcessWorkerLauncher(String javaCommand, String classPath, List<String> jvmOptions, boolean useSetpriv)
    {
        this(javaCommand, classPath, jvmOptions, useSetpriv, null);
    }

    /**
     * @param javaCommand the java binary, readable and executable by every tenant
     * @param classPath the worker class path, readable by every tenant and writable by none
     * @param jvmOptions options for the worker JVM, such as {@code -Xmx256m}
     * @param useSetpriv whether to exec through {@value #SETPRIV}; false only for a front that is not root
     * @param classArchive the class-data-sharing archive trained with this class path and these options, which
     * workers that keep these options map once it is ready; null for none
     * @throws IllegalStateException if {@value #SETSID} or {@value #SETPRIV} is missing, or if
     * {@code useSetpriv} is false while this process is root
     */
    public ProcessWorkerLauncher(String javaCommand, String classPath, List<String> jvmOptions, boolean useSetpriv, WorkerClassArchive classArchive)
    {
        this(javaCommand, classPath, jvmOptions, useSetpriv, classArchive, Path.of(SETPRIV), Path.of(SETSID), isRoot());
    }

    ProcessWorkerLauncher(String javaCommand, String classPath, List<String> jvmOptions, boolean useSetpriv, WorkerClassArchive classArchive,
                          Path setpriv, Path setsid, boolean root)
    {
        if (!Files.isExecutable(setsid))
            throw new IllegalStateException("no " + setsid + ": workers start in a session of their own, with no terminal, through util-linux's setsid; install util-linux");
        if (useSetpriv && !Files.isExecutable(setpriv))
            throw new IllegalStateException("no " + setpriv + ": no setpriv, no workers; a worker JVM must never run as root, and util-linux's setpriv drops its privileges before it starts; install util-linux");
        if (!useSetpriv && root)
            throw new IllegalStateException("useSetpriv=false while the front runs as root: the worker JVM would start as root; only a front that is not root may launch workers without setpriv");
        this.javaCommand = javaCommand;
        this.classPath = classPath;
        this.jvmOptions = List.copyOf(jvmOptions);
        this.useSetpriv = useSetpriv;
        this.classArchive = classArchive;
        this.setpriv = setpriv;
        this.setsid = setsid;
    }

    private static boolean isRoot()
    {
        try
        {
            return Posix.get().geteuid() == 0;
        }
        catch (IOException x)
        {
            // Cannot tell: assume the worst, so that a missing setpriv fails rather than runs a JVM as root.
            return true;
        }
    }

    /**
     * @return whether workers are exec'd through {@code setpriv}
     */
    public boolean isUseSetpriv()
    {
        return useSetpriv;
    }

    /**
     * Checks a vhost's environment additions, at start.
     *
     * @param vhost the vhost's name, for the message
     * @param environment the variables the vhost adds
     * @throws IllegalArgumentException naming the vhost and the first variable that is not a portable name or
     * is one the loader, the C library or the JVM act on
     */
    public static void checkEnvironment(String vhost, Map<String, String> environment)
    {
        for (String name : environment.keySet())
        {
            if (!PORTABLE_NAME.matcher(name).matches())
                throw new IllegalArgumentException("vhost '" + vhost + "': environment variable name '" + name + "' refused: only letters, digits and '_', not starting with a digit");
            if (REFUSED_VARIABLES.contains(name) || REFUSED_PREFIXES.stream().anyMatch(name::startsWith))
                throw new IllegalArgumentException("vhost '" + vhost + "': environment variable " + name + " refused: the dynamic loader, the C library or the JVM act on it before the app runs");
        }
    }

    @Override
    public Process launch(WorkerArguments arguments, Path workDirectory) throws IOException
    {
        return start(newProcessBuilder(arguments, workDirectory));
    }

    /**
     * @return the worker's process, configured (command, directory, clean environment) but for its standard streams
     * @throws IOException naming the vhost, if its environment cannot be given
     */
    public ProcessBuilder newProcessBuilder(WorkerArguments arguments, Path workDirectory) throws IOException
    {
        ProcessBuilder builder = new ProcessBuilder(newCommand(arguments, workDirectory));
        builder.directory(workDirectory.toFile());
        try
        {
            configureEnvironment(builder.environment(), arguments, workDirectory);
        }
        catch (IllegalArgumentException x)
        {
            throw new IOException("vhost '" + arguments.vhost() + "': " + x.getMessage(), x);
        }
        if (LOG.isDebugEnabled())
            LOG.debug("launching {}", builder.command());
        return builder;
    }

    /**
     * Starts the process with protocol pipes the front made: the child gets their other ends, the front keeps
     * descriptions of its own ends, opened through {@code /proc/self/fd}.
     */
    private static WorkerProcess start(ProcessBuilder builder) throws IOException
    {
        Posix posix = Posix.get();
        int[] stdin = posix.pipe();
        int[] stdout = null;
        OutputStream frontOutput = null;
        InputStream frontInput = null;
        GatheringByteChannel directOutput = null;
        try
        {
            stdout = posix.pipe();
            enlarge(posix, stdin[1]);
            enlarge(posix, stdout[0]);
            builder.redirectInput(ownEnd(stdin[0]));
            builder.redirectOutput(ownEnd(stdout[1]));
            frontOutput = new FileOutputStream(ownEnd(stdin[1]));
            frontInput = new FileInputStream(ownEnd(stdout[0]));
            directOutput = openDirectOutput(stdin[1]);
            Process process = builder.start();
            return new WorkerProcess(process, frontOutput, frontInput, directOutput);
        }
        catch (IOException | RuntimeException x)
        {
            closeQuietly(frontOutput, x);
            closeQuietly(frontInput, x);
            closeQuietly(directOutput, x);
            throw x;
        }
        finally
        {
            // The child has its copies, the front its descriptions: the raw descriptors are no longer needed.
            closeQuietly(posix, stdin);
            closeQuietly(posix, stdout);
        }
    }

    private static File ownEnd(int fd)
    {
        return new File("/proc/self/fd/" + fd);
    }

    /**
     * Gives a protocol pipe {@link Wire#PIPE_CAPACITY}. The kernel counts every pipe's buffers against the
     * user who created it (the front's), and refuses an unprivileged caller once that user holds more than
     * {@code /proc/sys/fs/pipe-user-pages-soft}: the worker asks again, and a pipe neither may enlarge keeps its
     * size.
     */
    private static void enlarge(Posix posix, int fd)
    {
        try
        {
            posix.setPipeCapacity(fd, Wire.PIPE_CAPACITY);
        }
        catch (IOException x)
        {
            LOG.debug("protocol pipe keeps its capacity", x);
        }
    }

    /**
     * Lets the front's threads write requests to the worker's stdin themselves, through a non-blocking
     * description of the pipe of their own: a write takes what the pipe has room for, the EndPoint's writer the
     * rest, so a worker that stops reading never holds a thread of the front.
     */
    private static GatheringByteChannel openDirectOutput(int fd)
    {
        try
        {
            return DescriptorChannel.openNonBlockingPipe(ownEnd(fd).toPath());
        }
        catch (IOException x)
        {
            LOG.debug("no direct writes to the protocol pipe", x);
            return null;
        }
    }

    private static void closeQuietly(Posix posix, int[] fds)
    {
        if (fds == null)
            return;
        for (int fd : fds)
        {
            try
            {
                posix.close(fd);
            }
            catch (IOException x)
            {
                LOG.debug("IGNORED", x);
            }
        }
    }

    private static void closeQuietly(AutoCloseable closeable, Throwable failure)
    {
        if (closeable == null)
            return;
        try
        {
            closeable.close();
        }
        catch (Exception x)
        {
            failure.addSuppressed(x);
        }
    }

    List<String> newCommand(WorkerArguments arguments, Path workDirectory)
    {
        List<String> command = new ArrayList<>(List.of(setsid.toString(), "--"));
        if (useSetpriv)
            command.addAll(setprivPrefix(setpriv.toString(), arguments.identity()));
        if (!arguments.environment().isEmpty())
            command.addAll(List.of(SHELL, "-c", exportScript(arguments.environment().keySet()), "jetty-itk-worker"));
        command.add(javaCommand);
        if (arguments.jvmOptions() == null)
        {
            command.addAll(jvmOptions);
            // The archive was trained with these options; a vhost's own options might not fit it.
            Path archive = classArchive != null ? classArchive.get() : null;
            if (archive != null)
                command.add("-XX:SharedArchiveFile=" + archive);
        }
        Path tmp = workDirectory.resolve("tmp");
        command.add("-Djava.io.tmpdir=" + tmp);
        command.add("-Duser.home=" + workDirectory);
        command.add("-cp");
        command.add(classPath);
        command.add(WorkerArguments.MAIN_CLASS);
        return command;
    }

    static List<String> setprivPrefix(String setpriv, Identity identity)
    {
        List<String> prefix = new ArrayList<>(List.of(setpriv,
            "--reuid=" + identity.uid(),
            "--regid=" + identity.gid()));
        if (identity.groups().length == 0)
            prefix.add("--clear-groups");
        else
            prefix.add("--groups=" + Arrays.stream(identity.groups()).mapToObj(Integer::toString).collect(Collectors.joining(",")));
        prefix.addAll(List.of("--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"));
        return prefix;
    }

    /**
     * @return a script that gives each variable its name, from its value under {@link #ENVIRONMENT_PREFIX}, and
     * execs its arguments; the values never appear on a command line
     */
    static String exportScript(Set<String> names)
    {
        // The shell exports the PWD it sets itself: the worker's environment is the same without the shell.
        StringBuilder script = new StringBuilder("unset PWD; ");
        for (String name : names)
        {
            // Only portable names reach a script: nothing in one can be more than a name to the shell.
            if (!PORTABLE_NAME.matcher(name).matches())
                throw new IllegalArgumentException("environment variable name '" + name + "' is not a portable name");
            script.append("export ").append(name).append("=\"$").append(ENVIRONMENT_PREFIX).append(name).append("\"; unset ")
                .append(ENVIRONMENT_PREFIX).append(name).append("; ");
        }
        return script.append("exec \"$@\"").toString();
    }

    private static void configureEnvironment(Map<String, String> environment, WorkerArguments arguments, Path workDirectory)
    {
        Map<String, String> inherited = Map.copyOf(environment);
        environment.clear();
        for (String name : ENVIRONMENT_ALLOW_LIST)
        {
            String value = inherited.get(name);
            if (value != null)
                environment.put(name, value);
        }
        environment.put("PATH", DEFAULT_PATH);
        environment.put("HOME", workDirectory.toString());
        environment.put("TMPDIR", workDirectory.resolve("tmp").toString());
        environment.put("USER", arguments.identity().user());
        environment.put("LOGNAME", arguments.identity().user());
        environment.put("MALLOC_ARENA_MAX", DEFAULT_MALLOC_ARENA_MAX);
        environment.put(WorkerArguments.ENVIRONMENT_VARIABLE, arguments.encode());
        if (arguments.jvmOptions() != null && !arguments.jvmOptions().isEmpty())
            environment.put("JDK_JAVA_OPTIONS", javaOptionsVariable(arguments.jvmOptions()));
        arguments.environment().forEach((name, value) -> environment.put(ENVIRONMENT_PREFIX + name, value));
    }

    /**
     * @return the options as the java launcher splits {@code JDK_JAVA_OPTIONS}: on white space, with quotes
     * grouping and no escape character
     * @throws IllegalArgumentException for an option with white space, or with both kinds of quote
     */
    static String javaOptionsVariable(List<String> options)
    {
        List<String> quoted = new ArrayList<>();
        for (String option : options)
        {
            if (option.chars().anyMatch(Character::isWhitespace))
                throw new IllegalArgumentException("JVM option with white space: '" + option + "'");
            if (option.indexOf('"') < 0)
                quoted.add('"' + option + '"');
            else if (option.indexOf('\'') < 0)
                quoted.add('\'' + option + '\'');
            else
                throw new IllegalArgumentException("JVM option with both kinds of quote: '" + option + "'");
        }
        return String.join(" ", quoted);
    }

    @Override
    public String toString()
    {
        return "%s@%x[setpriv=%b,java=%s]".formatted(getClass().getSimpleName(), hashCode(), useSetpriv, javaCommand);
    }
}
