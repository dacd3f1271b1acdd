package org.jettyitk.internal.launch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>A class-data-sharing archive of the classes every worker loads (Jetty, HTTP/2, ee10, jnr-posix and
 * jetty-itk's worker): the workers map it read-only and share its pages, so each starts faster and keeps
 * less memory of its own.</p>
 * <p>The front trains it once, in the background, when it starts: a JVM with the workers' class path and
 * options runs {@value #TRAINING_CLASS}, which loads no tenant code, and dumps the classes it loaded at exit
 * ({@code -XX:ArchiveClassesAtExit}). The training runs as the front's own user, so the archive is as trusted
 * as the class path: it is written into a directory only the front can write, and made readable by all.</p>
 * <p>Run as root, the training runs nothing a tenant or a vhost can influence: the front's java, class path and
 * JVM options (never a vhost's), a clean environment, its own session with no terminal ({@code setsid}), and
 * its working, home and temporary directories (where jffi extracts its native library) inside the archive's
 * directory, which only root can write. No tenant code and no tenant path is on its way.</p>
 * <p>Workers spawned before the archive is ready, or with options of their own, start without it. A JVM that
 * cannot use it (another JDK, a changed jar) ignores it, as {@code -Xshare:auto} does.</p>
 */
public class WorkerClassArchive
{
    private static final Logger LOG = LoggerFactory.getLogger(WorkerClassArchive.class);
    public static final String ARCHIVE_FILE = "worker.jsa";
    /** The training run's main class, named here so that launching needs none of the worker's classes. */
    public static final String TRAINING_CLASS = "org.jettyitk.internal.worker.WorkerTraining";
    public static final long TRAINING_TIMEOUT_SECONDS = 120;

    private final CompletableFuture<Path> archive = new CompletableFuture<>();
    private volatile Process training;

    /**
     * Starts the training; {@link #get()} returns the archive once it is written.
     *
     * @param javaCommand the workers' java binary
     * @param classPath the workers' class path
     * @param jvmOptions the workers' JVM options
     * @param directory a new directory for the archive and the training's files, writable only by the front (root
     * when the front is root)
     */
    public void train(String javaCommand, String classPath, List<String> jvmOptions, Path directory)
    {
        Path file = directory.resolve(ARCHIVE_FILE);
        Path log = directory.resolve("training.log");
        Path tmp = directory.resolve("tmp");
        List<String> command = new ArrayList<>(List.of(ProcessWorkerLauncher.SETSID, "--"));
        command.add(javaCommand);
        command.addAll(jvmOptions);
        command.add("-Djava.io.tmpdir=" + tmp);
        command.add("-Duser.home=" + directory);
        command.add("-XX:ArchiveClassesAtExit=" + file);
        command.add("-cp");
        command.add(classPath);
        command.add(TRAINING_CLASS);
        command.add(directory.resolve("training").toString());
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.directory(directory.toFile());
        builder.environment().clear();
        builder.environment().put("PATH", ProcessWorkerLauncher.DEFAULT_PATH);
        builder.environment().put("HOME", directory.toString());
        builder.environment().put("TMPDIR", tmp.toString());
        builder.redirectErrorStream(true);
        builder.redirectOutput(log.toFile());
        long start = System.nanoTime();
        try
        {
            Files.createDirectory(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            Process process = builder.start();
            training = process;
            process.getOutputStream().close();
            process.onExit().orTimeout(TRAINING_TIMEOUT_SECONDS, TimeUnit.SECONDS).whenComplete((p, x) ->
                onTrainingExit(process, file, log, x, (System.nanoTime() - start) / 1_000_000));
        }
        catch (IOException x)
        {
            LOG.warn("workers start without a class-data archive: the training could not start", x);
            archive.complete(null);
        }
    }

    private void onTrainingExit(Process process, Path file, Path log, Throwable failure, long millis)
    {
        // Stopped: the training was killed on purpose, and its directory is going away.
        if (archive.isDone())
            return;
        try
        {
            if (failure != null)
            {
                process.destroyForcibly();
                throw new IOException("no exit after " + TRAINING_TIMEOUT_SECONDS + " s");
            }
            if (process.exitValue() != 0 || !Files.isRegularFile(file) || Files.size(file) == 0)
                throw new IOException("exit status " + process.exitValue() + ", see " + log);
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
            LOG.info("worker class-data archive {} ({} KiB) trained in {} ms", file, Files.size(file) / 1024, millis);
            archive.complete(file);
        }
        catch (IOException x)
        {
            LOG.warn("workers start without a class-data archive: training failed: {}", x.getMessage());
            archive.complete(null);
        }
    }

    /**
     * @return the archive, or null while it is trained or if it could not be
     */
    public Path get()
    {
        return archive.getNow(null);
    }

    /**
     * @return a future completed with the archive, or with null if there is none
     */
    public CompletableFuture<Path> ready()
    {
        return archive;
    }

    /**
     * Kills a training still running.
     */
    public void stop()
    {
        archive.complete(null);
        Process process = training;
        if (process != null && process.isAlive())
        {
            process.destroyForcibly();
            try
            {
                // Gone before the caller deletes its directory.
                process.waitFor(5, TimeUnit.SECONDS);
            }
            catch (InterruptedException x)
            {
                Thread.currentThread().interrupt();
            }
        }
    }
}
