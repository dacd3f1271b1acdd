package org.jettyitk.internal.front;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntFunction;

import org.jettyitk.internal.launch.ProcessWorkerLauncher;
import org.jettyitk.internal.launch.WorkerLauncher;
import org.jettyitk.internal.posix.Identity;
import org.jettyitk.internal.posix.UnixSockets;
import org.jettyitk.internal.spawner.SpawnerMain;
import org.jettyitk.internal.spawner.SpawnerProtocol;
import org.jettyitk.internal.wire.WorkerArguments;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>The front's side of privilege separation: a {@link WorkerLauncher} that asks the {@link SpawnerMain spawner}
 * for each worker over a Unix socket pair, and gets back the worker's pid and the front's ends of its pipes.</p>
 * <p>Started by the front while it is still root; requests go out only once the front runs as its
 * {@code frontUser} ({@link #dropped()}), the only sender the spawner accepts. One thread reads the spawner's
 * replies: spawned workers, refusals, exits. If the spawner goes away, the front logs it once, the workers it
 * has keep serving, and every launch fails (a 503 for the vhost that needed it).</p>
 * <p>It also asks the spawner for the descriptors of tenant logs ({@link #openLog(Path, int)},
 * {@link #rotateLog(Path, int)}), which the front, once dropped, may not open; the directories they may be in are
 * named while the front is root ({@link #allowLogDirectory(Path)}).</p>
 */
public class SpawnerLauncher implements WorkerLauncher
{
    private static final Logger LOG = LoggerFactory.getLogger(SpawnerLauncher.class);
    /** The longest wait for the spawner's answer to a launch, or for the front's drop. */
    public static final long LAUNCH_TIMEOUT_SECONDS = 30;
    /** The spawner's own JVM options: it holds no tenant data, and starts a process now and then. */
    public static final List<String> SPAWNER_JVM_OPTIONS = List.of("-Xmx32m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto");

    private final UnixSockets sockets;
    private final int socket;
    private final long spawnerPid;
    private final Map<Integer, CompletableFuture<SpawnedProcess>> pending = new ConcurrentHashMap<>();
    /** Log requests waiting for their answer: a descriptor, or -1 for a request that returns none. */
    private final Map<Integer, CompletableFuture<Integer>> pendingLogs = new ConcurrentHashMap<>();
    private final Map<Long, SpawnedProcess> processes = new ConcurrentHashMap<>();
    private final AtomicInteger ids = new AtomicInteger();
    private final CompletableFuture<Void> dropped = new CompletableFuture<>();
    private final Thread reader;
    private volatile String gone;
    private volatile boolean closing;

    private SpawnerLauncher(UnixSockets sockets, int socket, long spawnerPid)
    {
        this.sockets = sockets;
        this.socket = socket;
        this.spawnerPid = spawnerPid;
        this.reader = new Thread(this::read, "itk-spawner-" + spawnerPid);
        this.reader.setDaemon(true);
    }

    /**
     * Starts the spawner, as this process's uid (root), in a session of its own.
     *
     * @param javaCommand the trusted java binary, for the spawner and the workers
     * @param classPath the trusted worker class path, for the spawner and the workers
     * @param workerJvmOptions the workers' JVM options
     * @param front the identity the front drops to
     * @param work the work directory the workers' {@code HOME}s are in
     * @param deleteWork whether the spawner deletes the work directory once the front is gone
     * @param trainClassArchive whether the spawner trains the workers' class-data archive
     */
    public static SpawnerLauncher start(String javaCommand, String classPath, List<String> workerJvmOptions, Identity front, int minId, int maxId,
                                        Path work, boolean deleteWork, boolean trainClassArchive) throws IOException
    {
        UnixSockets sockets = UnixSockets.get();
        int[] pair = sockets.socketPair();
        long pid;
        try
        {
            // Before the spawner runs: a message queued before the option is set would carry no credentials.
            sockets.passCredentials(pair[1]);
            List<String> arguments = new ArrayList<>(List.of("--", javaCommand));
            arguments.addAll(SPAWNER_JVM_OPTIONS);
            arguments.addAll(List.of("-cp", classPath, SpawnerMain.class.getName(),
                Long.toString(ProcessHandle.current().pid()), Integer.toString(front.uid()), Integer.toString(front.gid()),
                Integer.toString(minId), Integer.toString(maxId), work.toString(), Boolean.toString(deleteWork), Boolean.toString(trainClassArchive),
                javaCommand, classPath));
            arguments.addAll(workerJvmOptions);
            List<String> environment = new ArrayList<>();
            environment.add("PATH=" + ProcessWorkerLauncher.DEFAULT_PATH);
            for (String name : ProcessWorkerLauncher.ENVIRONMENT_ALLOW_LIST)
            {
                String value = System.getenv(name);
                if (value != null)
                    environment.add(name + "=" + value);
            }
            // setsid: a session of its own, so that the terminal's signals (Ctrl-C) reach the front alone.
            pid = sockets.spawn(ProcessWorkerLauncher.SETSID, arguments, environment, pair[1]);
        }
        catch (IOException x)
        {
            sockets.close(pair[0]);
            throw x;
        }
        finally
        {
            sockets.close(pair[1]);
        }
        SpawnerLauncher launcher = new SpawnerLauncher(sockets, pair[0], pid);
        launcher.reader.start();
        LOG.info("worker spawner started pid={} for front uid={} gid={}", pid, front.uid(), front.gid());
        return launcher;
    }

    /**
     * @return the spawner's pid
     */
    public long getSpawnerPid()
    {
        return spawnerPid;
    }

    /**
     * @return whether the spawner is gone (it exited, or its socket closed)
     */
    public boolean isGone()
    {
        return gone != null;
    }

    /**
     * The front has dropped its privileges: requests may go out. Until then launches wait.
     *
     * @param failure null if the drop succeeded; else why it failed, which every launch then fails with
     */
    public void dropped(Throwable failure)
    {
        if (failure == null)
            dropped.complete(null);
        else
            dropped.completeExceptionally(failure);
    }

    @Override
    public Process launch(WorkerArguments arguments, Path workDirectory) throws IOException
    {
        try
        {
            dropped.get(LAUNCH_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        }
        catch (ExecutionException x)
        {
            throw new IOException("vhost '" + arguments.vhost() + "': no worker: the front's privilege drop failed: " + x.getCause().getMessage(), x.getCause());
        }
        catch (TimeoutException x)
        {
            throw new IOException("vhost '" + arguments.vhost() + "': no worker: the front has not dropped its privileges after " + LAUNCH_TIMEOUT_SECONDS + " s");
        }
        catch (InterruptedException x)
        {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", x);
        }
        checkNotGone(arguments.vhost());
        int id = ids.incrementAndGet();
        CompletableFuture<SpawnedProcess> answer = new CompletableFuture<>();
        pending.put(id, answer);
        try
        {
            sockets.send(socket, SpawnerProtocol.encodeSpawn(id, arguments, workDirectory.toString()));
            return answer.get(LAUNCH_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        }
        catch (ExecutionException x)
        {
            throw new IOException("vhost '" + arguments.vhost() + "': the worker spawner " + x.getCause().getMessage(), x.getCause());
        }
        catch (TimeoutException x)
        {
            throw new IOException("vhost '" + arguments.vhost() + "': no answer from the worker spawner pid=" + spawnerPid + " after " + LAUNCH_TIMEOUT_SECONDS + " s");
        }
        catch (InterruptedException x)
        {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", x);
        }
        catch (IOException x)
        {
            checkNotGone(arguments.vhost());
            throw x;
        }
        finally
        {
            pending.remove(id);
        }
    }

    private void checkNotGone(String vhost) throws IOException
    {
        String why = gone;
        if (why != null)
            throw new IOException("vhost '" + vhost + "': no new worker: the worker spawner pid=" + spawnerPid + " is gone (" + why + ")");
    }

    /**
     * <p>Allows tenant logs in {@code directory}: the spawner checks it (root-owned, writable by root only, on every
     * directory of its path), makes it if missing, and holds it open. The spawner takes this request only while the
     * front is root, that is before its drop.</p>
     *
     * @throws IOException if the spawner refused, saying why
     */
    public void allowLogDirectory(Path directory) throws IOException
    {
        String path = directory.toAbsolutePath().normalize().toString();
        int fd = logRequest(path, id -> SpawnerProtocol.encodeAllowLogDirectory(id, path));
        if (fd >= 0)
            closeAll(new int[]{fd});
    }

    /**
     * Opens a tenant log for appending, through the spawner, creating it if missing.
     *
     * @param file the log file, directly in a directory {@link #allowLogDirectory(Path) allowed} before the drop
     * @param gid the tenant's group, which the file gets
     * @return the descriptor, the caller's to close
     * @throws IOException if the spawner refused, saying why, or is gone
     */
    public int openLog(Path file, int gid) throws IOException
    {
        return logFile(SpawnerProtocol.OPEN_LOG, file, gid);
    }

    /**
     * Renames a tenant log to {@code NAME.1}, through the spawner, and opens it anew.
     *
     * @return the new file's descriptor, the caller's to close
     * @throws IOException if the spawner refused, saying why, or is gone
     */
    public int rotateLog(Path file, int gid) throws IOException
    {
        return logFile(SpawnerProtocol.ROTATE_LOG, file, gid);
    }

    private int logFile(byte type, Path file, int gid) throws IOException
    {
        String path = file.toAbsolutePath().normalize().toString();
        int fd = logRequest(path, id -> SpawnerProtocol.encodeLogRequest(id, type, path, gid));
        if (fd < 0)
            throw new IOException("log file " + path + ": the worker spawner answered without a descriptor");
        return fd;
    }

    private int logRequest(String path, IntFunction<byte[]> request) throws IOException
    {
        String why = gone;
        if (why != null)
            throw new IOException(path + ": the worker spawner pid=" + spawnerPid + " is gone (" + why + ")");
        int id = ids.incrementAndGet();
        CompletableFuture<Integer> answer = new CompletableFuture<>();
        pendingLogs.put(id, answer);
        try
        {
            sockets.send(socket, request.apply(id));
            return answer.get(LAUNCH_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        }
        catch (ExecutionException x)
        {
            throw new IOException(path + ": the worker spawner " + x.getCause().getMessage(), x.getCause());
        }
        catch (TimeoutException x)
        {
            // A descriptor that comes later has nobody to take it: the reader closes it.
            throw new IOException(path + ": no answer from the worker spawner pid=" + spawnerPid + " after " + LAUNCH_TIMEOUT_SECONDS + " s");
        }
        catch (InterruptedException x)
        {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", x);
        }
        finally
        {
            pendingLogs.remove(id);
        }
    }

    /**
     * @return whether the request went to the spawner
     */
    boolean signal(long pid, int signal)
    {
        if (gone != null)
            return false;
        try
        {
            sockets.send(socket, SpawnerProtocol.encodeSignal(ids.incrementAndGet(), pid, signal));
            return true;
        }
        catch (IOException | RuntimeException x)
        {
            LOG.warn("cannot ask the worker spawner to signal worker {}: {}", pid, x.getMessage());
            return false;
        }
    }

    private void read()
    {
        String why;
        try
        {
            while (true)
            {
                UnixSockets.Message message = sockets.receive(socket, SpawnerProtocol.MAX_MESSAGE, SpawnerProtocol.SPAWNED_FDS);
                if (message == null)
                {
                    why = "it closed its socket";
                    break;
                }
                onReply(message);
            }
        }
        catch (IOException | RuntimeException x)
        {
            why = x.toString();
        }
        onGone(why);
    }

    private void onReply(UnixSockets.Message message) throws IOException
    {
        SpawnerProtocol.Reply reply;
        try
        {
            if (message.truncated())
                throw new IllegalArgumentException("truncated reply");
            reply = SpawnerProtocol.decodeReply(message.bytes());
            if (reply.type() == SpawnerProtocol.SPAWNED && message.fds().length != SpawnerProtocol.SPAWNED_FDS)
                throw new IllegalArgumentException("spawned reply with " + message.fds().length + " descriptors");
            if (reply.type() == SpawnerProtocol.LOG_OPENED && message.fds().length != SpawnerProtocol.LOG_OPENED_FDS)
                throw new IllegalArgumentException("log reply with " + message.fds().length + " descriptors");
            if (reply.type() != SpawnerProtocol.SPAWNED && reply.type() != SpawnerProtocol.LOG_OPENED && message.fds().length > 0)
                throw new IllegalArgumentException("reply of type " + reply.type() + " with descriptors");
        }
        catch (IllegalArgumentException x)
        {
            closeAll(message.fds());
            LOG.warn("worker spawner reply ignored: {}", x.getMessage());
            return;
        }
        switch (reply.type())
        {
            case SpawnerProtocol.SPAWNED ->
            {
                CompletableFuture<SpawnedProcess> answer = pending.get(reply.id());
                SpawnedProcess process;
                try
                {
                    process = SpawnedProcess.open(this, reply.pid(), message.fds());
                }
                catch (IOException x)
                {
                    // That worker only: it has no front, the spawner kills it; the next launch may do better.
                    LOG.warn("cannot open the pipes of worker {}: {}", reply.pid(), x.toString());
                    signal(reply.pid(), SpawnerProtocol.SIGKILL);
                    if (answer != null)
                        answer.completeExceptionally(x);
                    return;
                }
                finally
                {
                    closeAll(message.fds());
                }
                processes.put(reply.pid(), process);
                // Nobody waits any more (a launch that timed out): the worker sees EOF and exits.
                if (answer == null || !answer.complete(process))
                    process.destroyForcibly();
            }
            case SpawnerProtocol.LOG_OPENED, SpawnerProtocol.DONE ->
            {
                CompletableFuture<Integer> answer = pendingLogs.get(reply.id());
                int fd = reply.type() == SpawnerProtocol.LOG_OPENED ? message.fds()[0] : -1;
                // Nobody waits any more (a request that timed out): the descriptor is closed.
                if ((answer == null || !answer.complete(fd)) && fd >= 0)
                    closeAll(new int[]{fd});
            }
            case SpawnerProtocol.FAILED ->
            {
                CompletableFuture<SpawnedProcess> answer = pending.get(reply.id());
                CompletableFuture<Integer> logAnswer = pendingLogs.get(reply.id());
                if (answer != null)
                    answer.completeExceptionally(new IOException(reply.reason()));
                else if (logAnswer != null)
                    logAnswer.completeExceptionally(new IOException(reply.reason()));
                else
                    // A signal for a worker that had exited meanwhile, typically.
                    LOG.info("worker spawner: {}", reply.reason());
            }
            case SpawnerProtocol.EXITED ->
            {
                SpawnedProcess process = processes.remove(reply.pid());
                if (process != null)
                    process.exited(reply.status());
            }
            default -> LOG.warn("worker spawner reply of unknown type {}", reply.type());
        }
    }

    private void closeAll(int[] fds)
    {
        for (int fd : fds)
        {
            try
            {
                sockets.close(fd);
            }
            catch (IOException x)
            {
                LOG.debug("IGNORED", x);
            }
        }
    }

    private void onGone(String why)
    {
        gone = why;
        if (closing)
            LOG.info("worker spawner pid={} stopped", spawnerPid);
        else
            LOG.error("worker spawner pid={} is gone ({}): the {} running workers keep serving; vhosts that need a new worker answer 503", spawnerPid, why, processes.size());
        IOException failure = new IOException("is gone (" + why + ")");
        pending.values().forEach(answer -> answer.completeExceptionally(failure));
        pendingLogs.values().forEach(answer -> answer.completeExceptionally(failure));
        for (SpawnedProcess process : List.copyOf(processes.values()))
        {
            processes.remove(process.pid());
            process.orphaned();
        }
        try
        {
            sockets.close(socket);
            int status = sockets.waitFor(spawnerPid);
            LOG.info("worker spawner pid={} reaped, wait status 0x{}", spawnerPid, Integer.toHexString(status));
        }
        catch (IOException x)
        {
            LOG.warn("cannot reap the worker spawner pid={}: {}", spawnerPid, x.getMessage());
        }
    }

    /**
     * Closes the front's end: the spawner waits for its workers, deletes the work directory if asked to, and exits.
     */
    public void stop()
    {
        closing = true;
        if (gone != null)
            return;
        try
        {
            sockets.shutdown(socket);
        }
        catch (IOException x)
        {
            LOG.warn("cannot close the worker spawner's socket: {}", x.getMessage());
        }
    }

    @Override
    public String toString()
    {
        return "%s@%x[spawner=%d,gone=%s]".formatted(getClass().getSimpleName(), hashCode(), spawnerPid, gone);
    }
}
