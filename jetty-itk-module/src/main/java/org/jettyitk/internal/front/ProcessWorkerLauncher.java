package org.jettyitk.internal.front;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import org.jettyitk.internal.posix.Identity;
import org.jettyitk.internal.worker.WorkerArguments;
import org.jettyitk.internal.worker.WorkerMain;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>Launches a worker JVM with a clean environment, through util-linux {@code setpriv} when present so that
 * the worker JVM never runs as root: {@code setpriv} switches groups, gid and uid, clears the inheritable and
 * bounding capability sets and sets no-new-privs before {@code exec}. The worker still proves the drop itself.
 * Without {@code setpriv} the worker starts as root and drops as the very first thing in its {@code main()}.</p>
 * <p>The environment is an allow-list ({@link #ENVIRONMENT_ALLOW_LIST} from the front's, when set) plus the
 * worker's own {@code HOME}, {@code TMPDIR}, {@code USER} and {@code LOGNAME}, plus
 * {@link #DEFAULT_MALLOC_ARENA_MAX}, plus the vhost's additions, which may override any of them: nothing such as
 * {@code JAVA_TOOL_OPTIONS} or {@code LD_PRELOAD} reaches the worker.</p>
 */
public class ProcessWorkerLauncher implements WorkerLauncher
{
    private static final Logger LOG = LoggerFactory.getLogger(ProcessWorkerLauncher.class);
    public static final List<String> ENVIRONMENT_ALLOW_LIST = List.of("LANG", "LC_ALL", "TZ");
    public static final String DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin";
    public static final String SETPRIV = "/usr/bin/setpriv";
    /**
     * glibc's {@code MALLOC_ARENA_MAX} for workers: by default glibc gives each busy thread its own malloc arena,
     * and the memory the JIT compilers free there stays in the worker's resident set.
     */
    public static final String DEFAULT_MALLOC_ARENA_MAX = "2";

    private final String javaCommand;
    private final String classPath;
    private final List<String> jvmOptions;
    private final boolean useSetpriv;
    private final WorkerClassArchive classArchive;

    public ProcessWorkerLauncher(String javaCommand, String classPath, List<String> jvmOptions, boolean useSetpriv)
    {
        this(javaCommand, classPath, jvmOptions, useSetpriv, null);
    }

    /**
     * @param javaCommand the java binary, readable and executable by every tenant
     * @param classPath the worker class path, readable by every tenant and writable by none
     * @param jvmOptions options for the worker JVM, such as {@code -Xmx256m}
     * @param useSetpriv whether to exec through {@value #SETPRIV} (ignored when it is absent)
     * @param classArchive the class-data-sharing archive trained with this class path and these options, which
     * workers that keep these options map once it is ready; null for none
     */
    public ProcessWorkerLauncher(String javaCommand, String classPath, List<String> jvmOptions, boolean useSetpriv, WorkerClassArchive classArchive)
    {
        this.javaCommand = javaCommand;
        this.classPath = classPath;
        this.jvmOptions = List.copyOf(jvmOptions);
        this.useSetpriv = useSetpriv && Files.isExecutable(Path.of(SETPRIV));
        this.classArchive = classArchive;
    }

    @Override
    public Process launch(WorkerArguments arguments, Path workDirectory) throws IOException
    {
        List<String> command = newCommand(arguments, workDirectory);
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.directory(workDirectory.toFile());
        configureEnvironment(builder.environment(), arguments.identity(), workDirectory);
        builder.environment().putAll(arguments.environment());
        if (LOG.isDebugEnabled())
            LOG.debug("launching {}", command);
        return builder.start();
    }

    List<String> newCommand(WorkerArguments arguments, Path workDirectory)
    {
        List<String> command = new ArrayList<>();
        if (useSetpriv)
            command.addAll(setprivPrefix(arguments.identity()));
        command.add(javaCommand);
        if (arguments.jvmOptions() != null)
        {
            command.addAll(arguments.jvmOptions());
        }
        else
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
        command.add(WorkerMain.class.getName());
        command.addAll(arguments.toArguments());
        return command;
    }

    static List<String> setprivPrefix(Identity identity)
    {
        List<String> prefix = new ArrayList<>(List.of(SETPRIV,
            "--reuid=" + identity.uid(),
            "--regid=" + identity.gid()));
        if (identity.groups().length == 0)
            prefix.add("--clear-groups");
        else
            prefix.add("--groups=" + Arrays.stream(identity.groups()).mapToObj(Integer::toString).collect(Collectors.joining(",")));
        prefix.addAll(List.of("--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"));
        return prefix;
    }

    private static void configureEnvironment(Map<String, String> environment, Identity identity, Path workDirectory)
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
        environment.put("USER", identity.user());
        environment.put("LOGNAME", identity.user());
        environment.put("MALLOC_ARENA_MAX", DEFAULT_MALLOC_ARENA_MAX);
    }

    @Override
    public String toString()
    {
        return "%s@%x[setpriv=%b,java=%s]".formatted(getClass().getSimpleName(), hashCode(), useSetpriv, javaCommand);
    }
}
