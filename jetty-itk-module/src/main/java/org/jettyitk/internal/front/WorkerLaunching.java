package org.jettyitk.internal.front;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import org.eclipse.jetty.util.annotation.ManagedAttribute;
import org.eclipse.jetty.util.annotation.ManagedObject;
import org.eclipse.jetty.util.component.ContainerLifeCycle;
import org.jettyitk.internal.launch.CpuGroup;
import org.jettyitk.internal.launch.ProcessWorkerLauncher;
import org.jettyitk.internal.launch.WorkDirectory;
import org.jettyitk.internal.launch.WorkerClassArchive;
import org.jettyitk.internal.launch.WorkerClassPath;
import org.jettyitk.internal.launch.WorkerLauncher;
import org.jettyitk.internal.posix.Identity;
import org.jettyitk.internal.posix.Posix;
import org.jettyitk.internal.posix.TrustedFiles;

/**
 * <p>How the front starts its workers, for as long as its handler runs: the work directory that holds the workers'
 * {@code HOME}s, the {@link WorkerLauncher}, and the workers' class-data archive. The handler adds it as a managed
 * bean; every pool takes its launcher and its workers' {@code HOME}s from it.</p>
 * <table>
 *   <caption>What {@link #start()} sets up, by the handler's settings</caption>
 *   <tr><th>settings</th><th>launcher</th><th>{@code HOME}s</th><th>class archive</th></tr>
 *   <tr><td>a launcher of its own (tests, embedding)</td><td>that one</td><td>made by the front</td><td>none</td></tr>
 *   <tr><td>{@code frontUser} set</td><td>a {@link SpawnerLauncher}: the spawner, started now while the front is
 *   root, starts every worker</td><td>made by the spawner at each spawn: the front, once dropped, may not</td>
 *   <td>trained by the spawner</td></tr>
 *   <tr><td>otherwise</td><td>a {@link ProcessWorkerLauncher}</td><td>made by the front</td><td>trained by the
 *   front</td></tr>
 * </table>
 * <p>{@link #stop()} undoes it: the archive's training is stopped; the spawner is told to go, and deletes the work
 * directory once its workers have exited; or the front deletes the work directory it created.</p>
 */
@ManagedObject("How the front starts its workers")
public class WorkerLaunching extends ContainerLifeCycle
{
    private final WorkerLauncher givenLauncher;
    private final String javaCommand;
    private final String workerClassPath;
    private final List<String> workerJvmOptions;
    private final boolean useSetpriv;
    private final boolean trainClassArchive;
    private final boolean cpuGroup;
    private final Path workDirectoryPath;
    private final Identity front;
    private final int minId;
    private final int maxId;
    private final List<Path> logDirectories;
    private WorkDirectory workDirectory;
    private WorkerLauncher launcher;
    private SpawnerLauncher spawner;
    private WorkerClassArchive classArchive;
    private Path classArchiveDirectory;

    /**
     * @param launcher the launcher to use, or null for one from the settings below
     * @param javaCommand the workers' java binary, or null for the front's own
     * @param workerClassPath the workers' class path, or null for the front's own jars
     * @param workerJvmOptions the workers' JVM options
     * @param useSetpriv whether workers are exec'd through {@code setpriv}
     * @param trainClassArchive whether to train the workers' class-data archive
     * @param cpuGroup whether a root front joins a CPU group of its own where the autogroup would schedule its workers apart
     * @param workDirectory the work directory, or null for a new temporary one, deleted at stop
     * @param front the identity the front drops to once started, or null if it keeps root
     * @param minId the lowest uid or gid a worker may have
     * @param maxId the highest uid or gid a worker may have
     * @param logDirectories with a {@code front} identity, the directories where the spawner may open tenant logs
     * for vhosts loaded after the drop
     */
    public WorkerLaunching(WorkerLauncher launcher, String javaCommand, String workerClassPath, List<String> workerJvmOptions, boolean useSetpriv,
                           boolean trainClassArchive, boolean cpuGroup, Path workDirectory, Identity front, int minId, int maxId, List<Path> logDirectories)
    {
        this.givenLauncher = launcher;
        this.javaCommand = javaCommand;
        this.workerClassPath = workerClassPath;
        this.workerJvmOptions = List.copyOf(workerJvmOptions);
        this.useSetpriv = useSetpriv;
        this.trainClassArchive = trainClassArchive;
        this.cpuGroup = cpuGroup;
        this.workDirectoryPath = workDirectory;
        this.front = front;
        this.minId = minId;
        this.maxId = maxId;
        this.logDirectories = List.copyOf(logDirectories);
    }

    @Override
    protected void doStart() throws Exception
    {
        // Before the spawner and any worker, which are born in the front's group.
        if (cpuGroup && Posix.get().geteuid() == 0)
            CpuGroup.join();
        workDirectory = WorkDirectory.open(workDirectoryPath);
        workDirectory.deleteLeftovers();
        try
        {
            launcher = givenLauncher != null ? givenLauncher : newLauncher(workDirectory.getPath());
        }
        catch (Throwable x)
        {
            workDirectory.delete();
            workDirectory = null;
            throw x;
        }
        super.doStart();
    }

    @Override
    protected void doStop() throws Exception
    {
        super.doStop();
        launcher = null;
        if (classArchive != null)
        {
            classArchive.stop();
            classArchive = null;
        }
        if (spawner != null)
        {
            // The spawner deletes the work directory once its workers have exited: the front no longer may.
            spawner.stop();
            spawner = null;
        }
        else if (workDirectory != null)
        {
            if (classArchiveDirectory != null)
                workDirectory.deleteOwn(classArchiveDirectory);
            workDirectory.delete();
        }
        classArchiveDirectory = null;
        workDirectory = null;
    }

    /**
     * @return the launcher every pool starts its workers with, while started
     */
    public WorkerLauncher getLauncher()
    {
        return launcher;
    }

    /**
     * @return the spawner's side in the front, or null when the front starts workers itself
     */
    public SpawnerLauncher getSpawner()
    {
        return spawner;
    }

    /**
     * @return the pid of the worker spawner, or 0 when the front starts workers itself
     */
    @ManagedAttribute("Pid of the root worker spawner; 0 when the front starts workers itself")
    public long getSpawnerPid()
    {
        SpawnerLauncher spawner = this.spawner;
        return spawner != null ? spawner.getSpawnerPid() : 0;
    }

    /**
     * @return the workers' class-data archive the front trains, or null (none, or the spawner's)
     */
    public WorkerClassArchive getClassArchive()
    {
        return classArchive;
    }

    /**
     * <p>The {@code HOME} of a vhost's workers, in the work directory: made (or checked) now, owned by its identity,
     * or, with a spawner, only named: the spawner makes it at each spawn.</p>
     *
     * @throws IOException if it cannot be made
     */
    public Path prepareHome(String vhost, Identity identity) throws IOException
    {
        if (spawner != null)
            return workDirectory.getPath().resolve(WorkDirectory.homeName(vhost));
        return workDirectory.prepareHome(vhost, identity);
    }

    private WorkerLauncher newLauncher(Path work) throws IOException
    {
        String java = trustedJavaCommand();
        // Root runs the class path (the class-data training JVM) and every tenant's worker loads it.
        String classPath = workerClassPath != null ? WorkerClassPath.trusted(workerClassPath) : WorkerClassPath.readableByAll(WorkerClassPath.ofLoader(WorkerLaunching.class), work);
        if (trainClassArchive)
            classPath = WorkerClassPath.jarsFirst(classPath);
        if (front != null)
        {
            // Checked before any spawner starts, which checks them again as it allows them.
            for (Path directory : logDirectories)
            {
                try
                {
                    TrustedFiles.createDirectories(directory);
                }
                catch (IOException x)
                {
                    throw new IllegalStateException("logDirectories: log directory " + directory + " refused: " + x.getMessage(), x);
                }
            }
            // The spawner, root for good, trains the class-data archive: a training JVM of the front's would outlive its drop.
            spawner = SpawnerLauncher.start(java, classPath, workerJvmOptions, front, minId, maxId, work, workDirectory.isCreated(), trainClassArchive);
            for (Path directory : logDirectories)
            {
                try
                {
                    spawner.allowLogDirectory(directory);
                }
                catch (IOException x)
                {
                    spawner.stop();
                    spawner = null;
                    throw new IllegalStateException("logDirectories: " + x.getMessage(), x);
                }
            }
            return spawner;
        }
        WorkerClassArchive archive = trainClassArchive ? new WorkerClassArchive() : null;
        // The launcher checks first (setsid, setpriv): a start that fails leaves no training JVM behind.
        ProcessWorkerLauncher processLauncher = new ProcessWorkerLauncher(java, classPath, workerJvmOptions, useSetpriv, archive);
        if (archive != null)
        {
            classArchiveDirectory = Files.createTempDirectory(work, WorkDirectory.CLASS_ARCHIVE_PREFIX);
            // Workers open the archive by its path; they cannot list or write the directory.
            Files.setPosixFilePermissions(classArchiveDirectory, PosixFilePermissions.fromString("rwx--x--x"));
            archive.train(java, WorkerClassPath.jars(classPath), workerJvmOptions, classArchiveDirectory);
            classArchive = archive;
        }
        return processLauncher;
    }

    /**
     * @return the java binary, checked: root runs it (the class-data training) and so does every tenant
     */
    private String trustedJavaCommand()
    {
        String java = javaCommand != null ? javaCommand : ProcessHandle.current().info().command().orElse(null);
        if (java == null || !Path.of(java).isAbsolute())
            throw new IllegalStateException("javaCommand must be an absolute path: " + java);
        try
        {
            TrustedFiles.check(Path.of(java));
        }
        catch (IOException x)
        {
            throw new IllegalStateException("javaCommand " + java + " refused: " + x.getMessage(), x);
        }
        return java;
    }

    @Override
    public String toString()
    {
        WorkDirectory work = workDirectory;
        return "%s@%x[work=%s,launcher=%s,classArchive=%b,%s]".formatted(getClass().getSimpleName(), hashCode(),
            work != null ? work.getPath() : null, launcher, classArchive != null, getState());
    }
}
