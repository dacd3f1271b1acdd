package org.jettyitk.internal.spawner;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import org.jettyitk.internal.launch.ProcessWorkerLauncher;
import org.jettyitk.internal.launch.WorkDirectory;
import org.jettyitk.internal.launch.WorkerClassArchive;
import org.jettyitk.internal.launch.WorkerClassPath;
import org.jettyitk.internal.posix.Identity;
import org.jettyitk.internal.posix.Posix;
import org.jettyitk.internal.posix.UnixSockets;
import org.jettyitk.internal.wire.Wire;
import org.jettyitk.internal.wire.WorkerArguments;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>The spawner: after the front has dropped its privileges, the only process of the server that keeps root.
 * The front starts it, as root, before its drop, with its descriptor 0 one end of a Unix {@code SOCK_SEQPACKET}
 * socket pair whose other end only the front holds. It does one job: start workers.</p>
 * <ul>
 *   <li>It reads only {@link SpawnerProtocol} requests whose kernel-attached credentials ({@code SCM_CREDENTIALS})
 *   are the front's pid, uid and gid; every other message, a malformed or oversized one, or one with descriptors,
 *   is refused with a reason, and the next is read.</li>
 *   <li>A worker's identity must be in {@code minId..maxId}, not 0, not the front's uid or gid, with no group 0 nor
 *   the front's group; its vhost's environment passes {@link ProcessWorkerLauncher#checkEnvironment}; its
 *   {@code HOME} must be its vhost's in the work directory the front named at start, which the spawner makes or
 *   checks ({@link WorkDirectory#prepareHome}).</li>
 *   <li>The command is not the front's: it is the {@link ProcessWorkerLauncher}'s, from the java binary, class path
 *   and options the front named while it was root ({@code setsid}, {@code setpriv}, clean environment).</li>
 *   <li>It makes the worker's three pipes, gives the front's ends to the front's uid and hands them over with
 *   {@code SCM_RIGHTS}, keeping none; it reaps its workers, kills what each left in its process group, and tells
 *   the front every exit status.</li>
 *   <li>It signals only its own live workers, and only with SIGTERM or SIGKILL.</li>
 *   <li>It opens and rotates tenant logs for the front ({@link LogFiles}), only in the log directories the front
 *   named while it was still root (a request whose credentials say uid 0 and the front's pid), and hands each
 *   file over with {@code SCM_RIGHTS}.</li>
 *   <li>When the front's end closes (the front stopped or died) its workers see EOF on stdin and exit; the
 *   spawner waits for them ({@link #EXIT_TIMEOUT_SECONDS}, then kills their groups), deletes the work directory
 *   if the front had created it, and exits.</li>
 *   <li>Asked to, it trains the workers' class-data archive ({@link WorkerClassArchive}) at its start, in a
 *   directory of its own in the work directory, and workers with the default JVM options map it once ready.</li>
 * </ul>
 * <p>Arguments: {@code frontPid frontUid frontGid minId maxId workDirectory deleteWorkDirectory trainClassArchive
 * java classPath [workerJvmOption...]}.</p>
 */
public final class SpawnerMain
{
    private static final Logger LOG = LoggerFactory.getLogger(SpawnerMain.class);
    /** How long the spawner waits for its workers once the front is gone, before it kills them. */
    public static final long EXIT_TIMEOUT_SECONDS = 30;
    /** Exit status for bad arguments or a spawner that is not root. */
    public static final int EXIT_USAGE = 2;
    private static final int SOCKET = 0;
    private static final int FIXED_ARGUMENTS = 10;

    private final Posix posix;
    private final UnixSockets sockets;
    private final int socket;
    private final int frontPid;
    private final int frontUid;
    private final int frontGid;
    private final int minId;
    private final int maxId;
    private final WorkDirectory workDirectory;
    private final ProcessWorkerLauncher launcher;
    private final LogFiles logFiles;
    private final Map<Long, Process> workers = new ConcurrentHashMap<>();
    private final Object sendLock = new Object();

    SpawnerMain(Posix posix, UnixSockets sockets, int socket, int frontPid, int frontUid, int frontGid, int minId, int maxId, WorkDirectory workDirectory,
                ProcessWorkerLauncher launcher)
    {
        this.posix = posix;
        this.sockets = sockets;
        this.socket = socket;
        this.frontPid = frontPid;
        this.frontUid = frontUid;
        this.frontGid = frontGid;
        this.minId = minId;
        this.maxId = maxId;
        this.workDirectory = workDirectory;
        this.launcher = launcher;
        this.logFiles = new LogFiles(posix, minId, maxId, frontGid);
    }

    public static void main(String[] args)
    {
        if (args.length < FIXED_ARGUMENTS)
        {
            System.err.println("usage: SpawnerMain frontPid frontUid frontGid minId maxId workDirectory deleteWorkDirectory trainClassArchive java classPath [workerJvmOption...]");
            System.exit(EXIT_USAGE);
        }
        try
        {
            Posix posix = Posix.get();
            if (posix.geteuid() != 0)
            {
                System.err.println("the worker spawner must run as root");
                System.exit(EXIT_USAGE);
            }
            Path work = Path.of(args[5]);
            boolean deleteWork = Boolean.parseBoolean(args[6]);
            boolean train = Boolean.parseBoolean(args[7]);
            String java = args[8];
            String classPath = args[9];
            List<String> jvmOptions = Arrays.asList(args).subList(FIXED_ARGUMENTS, args.length);
            WorkDirectory workDirectory = WorkDirectory.adopt(work);
            WorkerClassArchive classArchive = train ? new WorkerClassArchive() : null;
            // Checked first (setsid, setpriv): a spawner that cannot start workers trains nothing.
            ProcessWorkerLauncher launcher = new ProcessWorkerLauncher(java, classPath, jvmOptions, true, classArchive);
            Path archiveDirectory = null;
            if (classArchive != null)
            {
                archiveDirectory = Files.createTempDirectory(work, WorkDirectory.CLASS_ARCHIVE_PREFIX);
                // Workers open the archive by its path; they cannot list or write the directory.
                Files.setPosixFilePermissions(archiveDirectory, PosixFilePermissions.fromString("rwx--x--x"));
                classArchive.train(java, WorkerClassPath.jars(classPath), jvmOptions, archiveDirectory);
            }
            SpawnerMain spawner = new SpawnerMain(posix, UnixSockets.get(), SOCKET, Integer.parseInt(args[0]), Integer.parseInt(args[1]), Integer.parseInt(args[2]),
                Integer.parseInt(args[3]), Integer.parseInt(args[4]), workDirectory, launcher);
            spawner.run();
            if (classArchive != null)
            {
                classArchive.stop();
                if (!deleteWork)
                    workDirectory.deleteOwn(archiveDirectory);
            }
            if (deleteWork)
                workDirectory.delete();
            LOG.info("worker spawner exits");
            System.exit(0);
        }
        catch (Throwable x)
        {
            LOG.error("worker spawner failed", x);
            System.exit(1);
        }
    }

    /**
     * Serves the front until its end of the socket closes, then waits for the workers.
     */
    void run() throws IOException
    {
        sockets.passCredentials(socket);
        LOG.info("worker spawner pid={} serving front pid={} uid={} gid={}, tenant ids {}..{}", ProcessHandle.current().pid(), frontPid, frontUid, frontGid, minId, maxId);
        while (true)
        {
            UnixSockets.Message message = sockets.receive(socket, SpawnerProtocol.MAX_MESSAGE, 1);
            if (message == null)
                break;
            handle(message);
        }
        LOG.info("the front closed its socket: waiting for {} workers to exit", workers.size());
        logFiles.close();
        awaitWorkers();
    }

    private void handle(UnixSockets.Message message)
    {
        for (int fd : message.fds())
        {
            closeQuietly(fd);
        }
        int id = -1;
        try
        {
            UnixSockets.Credentials sender = message.credentials();
            if (sender == null)
                throw new IllegalArgumentException("no sender credentials");
            String notFront = "sender pid=" + sender.pid() + " uid=" + Integer.toUnsignedString(sender.uid()) + " gid=" + Integer.toUnsignedString(sender.gid()) +
                " is not the front (pid=" + frontPid + " uid=" + frontUid + " gid=" + frontGid + ")";
            boolean dropped = sender.pid() == frontPid && sender.uid() == frontUid && sender.gid() == frontGid;
            // The kernel attaches the sender's real ids: only the front, before its drop, can say pid and uid 0.
            boolean root = sender.pid() == frontPid && sender.uid() == 0;
            if (!dropped && !root)
                throw new IllegalArgumentException(notFront);
            if (message.truncated())
                throw new IllegalArgumentException("message longer than " + SpawnerProtocol.MAX_MESSAGE + " bytes or with descriptors");
            if (message.fds().length > 0)
                throw new IllegalArgumentException("message with descriptors");
            if (message.bytes().length >= 6)
                id = ((message.bytes()[2] & 0xFF) << 24) | ((message.bytes()[3] & 0xFF) << 16) | ((message.bytes()[4] & 0xFF) << 8) | (message.bytes()[5] & 0xFF);
            Object request = SpawnerProtocol.decodeRequest(message.bytes());
            if (request instanceof SpawnerProtocol.Spawn spawn)
            {
                if (!dropped)
                    throw new IllegalArgumentException(notFront);
                spawn(spawn);
            }
            else if (request instanceof SpawnerProtocol.Signal signal)
            {
                if (!dropped)
                    throw new IllegalArgumentException(notFront);
                signal(signal);
            }
            else if (request instanceof SpawnerProtocol.LogRequest log)
            {
                openLog(log);
            }
            else if (request instanceof SpawnerProtocol.AllowLogDirectory allow)
            {
                if (!root)
                    throw new IllegalArgumentException("log directory " + allow.directory() + " refused: allowed only by the front while root, before its drop (sender uid=" +
                        Integer.toUnsignedString(sender.uid()) + ")");
                logFiles.allow(allow.directory());
                reply(SpawnerProtocol.encodeDone(allow.id()));
            }
        }
        catch (RuntimeException | IOException x)
        {
            LOG.warn("request refused: {}", x.getMessage() != null ? x.getMessage() : x.toString());
            reply(SpawnerProtocol.encodeFailed(id, "refused: " + x.getMessage()));
        }
    }

    private void reply(byte[] reply, int... fds)
    {
        synchronized (sendLock)
        {
            try
            {
                sockets.send(socket, reply, fds);
            }
            catch (IOException x)
            {
                LOG.warn("cannot reply to the front: {}", x.getMessage());
            }
        }
    }

    private void checkIdentity(Identity identity)
    {
        checkId("uid", identity.uid());
        checkId("gid", identity.gid());
        if (identity.uid() == frontUid)
            throw new IllegalArgumentException("uid " + identity.uid() + " is the front's");
        for (int group : identity.groups())
        {
            if (group == 0)
                throw new IllegalArgumentException("group 0 refused");
            if (group == frontGid)
                throw new IllegalArgumentException("group " + group + " is the front's");
        }
    }

    private void checkId(String what, int id)
    {
        if (id == 0)
            throw new IllegalArgumentException(what + " 0 refused");
        if (id < minId || id > maxId)
            throw new IllegalArgumentException(what + " " + Integer.toUnsignedString(id) + " out of " + minId + ".." + maxId);
    }

    /**
     * The worker's {@code HOME} is its vhost's in the work directory, and nowhere else: made (or checked) here, as
     * {@link WorkDirectory#prepareHome} does, through descriptors from the root-owned work directory, so that a
     * vhost the front loaded after its drop gets one too.
     */
    private Path prepareHome(SpawnerProtocol.Spawn request) throws IOException
    {
        WorkerArguments arguments = request.arguments();
        Path expected = workDirectory.getPath().resolve(WorkDirectory.homeName(arguments.vhost()));
        if (!expected.toString().equals(request.workDirectory()))
            throw new IllegalArgumentException("HOME " + request.workDirectory() + " is not vhost '" + arguments.vhost() + "''s " + expected);
        return workDirectory.prepareHome(arguments.vhost(), arguments.identity());
    }

    private void spawn(SpawnerProtocol.Spawn request) throws IOException
    {
        WorkerArguments arguments = request.arguments();
        checkIdentity(arguments.identity());
        ProcessWorkerLauncher.checkEnvironment(arguments.vhost(), arguments.environment());
        Path home = prepareHome(request);
        ProcessBuilder builder = launcher.newProcessBuilder(arguments, home);
        List<int[]> pipes = new ArrayList<>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                pipes.add(posix.pipe());
            }
            int[] stdin = pipes.get(0);
            int[] stdout = pipes.get(1);
            int[] stderr = pipes.get(2);
            enlarge(stdin[1]);
            enlarge(stdout[0]);
            builder.redirectInput(ownEnd(stdin[0]));
            builder.redirectOutput(ownEnd(stdout[1]));
            builder.redirectError(ownEnd(stderr[1]));
            int[] frontEnds = {stdin[1], stdout[0], stderr[0]};
            // The front, no longer root, reopens its ends through /proc/self/fd: the pipes must be its own.
            for (int fd : frontEnds)
            {
                posix.fchown(fd, frontUid, frontGid);
            }
            Process process = builder.start();
            long pid = process.pid();
            workers.put(pid, process);
            LOG.info("worker spawned vhost={} pid={} uid={} gid={}", arguments.vhost(), pid, arguments.identity().uid(), arguments.identity().gid());
            reply(SpawnerProtocol.encodeSpawned(request.id(), pid), frontEnds);
            process.onExit().thenRun(() -> onExit(process));
        }
        finally
        {
            for (int[] pipe : pipes)
            {
                closeQuietly(pipe[0]);
                closeQuietly(pipe[1]);
            }
        }
    }

    private void openLog(SpawnerProtocol.LogRequest request) throws IOException
    {
        int fd = request.type() == SpawnerProtocol.ROTATE_LOG
            ? logFiles.rotate(request.file(), request.gid())
            : logFiles.open(request.file(), request.gid());
        try
        {
            if (request.type() == SpawnerProtocol.ROTATE_LOG)
                LOG.info("tenant log {} rotated", request.file());
            reply(SpawnerProtocol.encodeLogOpened(request.id()), fd);
        }
        finally
        {
            closeQuietly(fd);
        }
    }

    private void enlarge(int fd)
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

    private static File ownEnd(int fd)
    {
        return new File("/proc/self/fd/" + fd);
    }

    private void onExit(Process process)
    {
        try
        {
            // Its process group's id cannot be another's while a member lives: the signal reaches leftovers or no one.
            if (posix.killProcessGroup(process.pid(), SpawnerProtocol.SIGKILL))
                LOG.info("killed what worker {} left in its process group", process.pid());
        }
        catch (IOException x)
        {
            LOG.warn("cannot kill what worker {} left in its process group: {}", process.pid(), x.getMessage());
        }
        workers.remove(process.pid());
        LOG.info("worker exited pid={} status={}", process.pid(), process.exitValue());
        reply(SpawnerProtocol.encodeExited(process.pid(), process.exitValue()));
    }

    private void signal(SpawnerProtocol.Signal request) throws IOException
    {
        if (request.signal() != SpawnerProtocol.SIGTERM && request.signal() != SpawnerProtocol.SIGKILL)
            throw new IllegalArgumentException("signal " + request.signal() + " refused: only SIGTERM and SIGKILL");
        Process process = workers.get(request.pid());
        if (process == null || !process.isAlive())
            throw new IllegalArgumentException("pid " + request.pid() + " is no live worker of this spawner");
        if (!posix.killProcessGroup(request.pid(), request.signal()))
        {
            if (request.signal() == SpawnerProtocol.SIGKILL)
                process.destroyForcibly();
            else
                process.destroy();
        }
    }

    private void awaitWorkers()
    {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(EXIT_TIMEOUT_SECONDS);
        for (Process process : List.copyOf(workers.values()))
        {
            try
            {
                long left = deadline - System.nanoTime();
                if (!process.waitFor(Math.max(0, left), TimeUnit.NANOSECONDS))
                {
                    LOG.warn("worker {} still runs {} s after the front left: killed", process.pid(), EXIT_TIMEOUT_SECONDS);
                    if (!posix.killProcessGroup(process.pid(), SpawnerProtocol.SIGKILL))
                        process.destroyForcibly();
                    process.waitFor(EXIT_TIMEOUT_SECONDS, TimeUnit.SECONDS);
                }
            }
            catch (IOException x)
            {
                LOG.warn("cannot kill worker {}: {}", process.pid(), x.getMessage());
            }
            catch (InterruptedException x)
            {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private void closeQuietly(int fd)
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
