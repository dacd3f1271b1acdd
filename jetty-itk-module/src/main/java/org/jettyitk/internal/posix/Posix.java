package org.jettyitk.internal.posix;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.function.IntFunction;
import java.util.function.IntUnaryOperator;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import com.kenai.jffi.MemoryIO;
import jnr.constants.platform.Errno;
import jnr.constants.platform.OpenFlags;
import jnr.constants.platform.RLIMIT;
import jnr.posix.FileStat;
import jnr.posix.Group;
import jnr.posix.POSIX;
import jnr.posix.POSIXFactory;
import jnr.posix.Passwd;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>The one entry point to the process credentials and the user database: jnr-posix for what it
 * binds, {@link LibC} for the rest.</p>
 * <p>Only the native jnr-posix is accepted: its pure-Java fallback answers {@code getuid()} and
 * friends with made-up values and cannot change credentials, so {@link #get()} refuses to run
 * on it rather than "drop" privileges that were never dropped.</p>
 * <p>Contracts:</p>
 * <ul>
 *   <li>every OS failure is an {@link IOException} whose message names the call, its arguments
 *   and errno with its text, for example
 *   {@code setresuid(41001,41001,41001) failed: EPERM (Operation not permitted)};</li>
 *   <li>credential changes apply to every thread of the JVM (glibc's {@code setxid});</li>
 *   <li>the user and group lookups are safe to call from any thread: the C functions return
 *   static buffers, so lookups are serialised and copied out under a lock.</li>
 * </ul>
 * <pre>{@code
 * Posix posix = Posix.get();
 * OptionalInt uid = posix.uidOf("alice");
 * }</pre>
 */
public final class Posix
{
    private static final Logger LOG = LoggerFactory.getLogger(Posix.class);
    /** {@code setpriority(2)}'s {@code which} for a process id; on Linux a thread id. */
    private static final int PRIO_PROCESS = 0;
    /** From Linux's {@code sched.h}; jnr-constants knows no scheduling policy. */
    private static final int SCHED_BATCH = 3;
    /** Linux's {@code RLIM_INFINITY}, as jnr-posix passes it: all bits set. */
    private static final long RLIM_INFINITY = -1L;
    /** Linux's {@code fcntl(2)} commands for a pipe's capacity. */
    private static final int F_SETPIPE_SZ = 1031;
    private static final int F_GETPIPE_SZ = 1032;
    /** Linux's {@code ioctl(2)} request for the bytes waiting in a pipe or socket. */
    private static final long FIONREAD = 0x541B;
    /** Linux's {@code unlinkat(2)} flag that removes a directory, as {@code rmdir(2)}; the same on every architecture. */
    private static final int AT_REMOVEDIR = 0x200;
    /** {@code fchown(2)}'s id that leaves the owner or group as it is. */
    public static final int UNCHANGED_ID = -1;
    /** The kernel's {@code NGROUPS_MAX}: no group list is ever longer. */
    static final int MAX_GROUPS = 65536;
    /** Enough for almost every user, so {@code getgrouplist} rarely runs twice. */
    static final int INITIAL_GROUP_LIST_CAPACITY = 32;

    private static Posix instance;

    private final POSIX posix;
    private final LibC libc;
    private final Object lookupLock = new Object();

    private Posix(POSIX posix, LibC libc)
    {
        this.posix = posix;
        this.libc = libc;
    }

    /**
     * @return the process-wide instance, bound to the native C library
     * @throws IOException if only jnr-posix's pure-Java fallback is available or libc cannot be bound
     */
    public static synchronized Posix get() throws IOException
    {
        if (instance == null)
            instance = load();
        return instance;
    }

    private static Posix load() throws IOException
    {
        POSIX posix;
        LibC libc;
        try
        {
            posix = POSIXFactory.getNativePOSIX();
            libc = LibC.load();
        }
        catch (LinkageError | RuntimeException x)
        {
            throw new IOException("native POSIX unavailable: " + x, x);
        }
        if (posix == null || !posix.isNative())
            throw new IOException("native POSIX unavailable: jnr-posix offers only its pure-Java fallback, which can neither change nor prove process credentials");
        if (LOG.isDebugEnabled())
            LOG.debug("bound {} and libc", posix.getClass().getName());
        return new Posix(posix, libc);
    }

    public int getuid()
    {
        return posix.getuid();
    }

    public int geteuid()
    {
        return posix.geteuid();
    }

    public int getgid()
    {
        return posix.getgid();
    }

    public int getegid()
    {
        return posix.getegid();
    }

    /**
     * @return the real, effective and saved user ids
     * @throws IOException if the call fails
     */
    public int[] getresuid() throws IOException
    {
        int[] ids = new int[3];
        if (libc.getresuid(ids) < 0)
            throw failure("getresuid()", libc.errno());
        return ids;
    }

    /**
     * @return the real, effective and saved group ids
     * @throws IOException if the call fails
     */
    public int[] getresgid() throws IOException
    {
        int[] ids = new int[3];
        if (libc.getresgid(ids) < 0)
            throw failure("getresgid()", libc.errno());
        return ids;
    }

    /**
     * @return the supplementary groups of the process, sorted, without duplicates; the effective
     * gid appears only if it is in the supplementary list (POSIX leaves this open)
     * @throws IOException if the call fails
     */
    public int[] getgroups() throws IOException
    {
        int count = posix.getgroups(0, null);
        if (count < 0)
            throw failure("getgroups(0,NULL)", posix.errno());
        int[] groups = new int[count];
        int actual = posix.getgroups(count, groups);
        if (actual < 0)
            throw failure("getgroups(" + count + ")", posix.errno());
        return sortedDistinct(Arrays.copyOf(groups, actual));
    }

    /**
     * @param gids the complete supplementary group list; it replaces, never adds to, the current one
     * @throws IOException if the call fails, typically EPERM without CAP_SETGID
     */
    public void setgroups(int[] gids) throws IOException
    {
        if (libc.setgroups(gids) < 0)
            throw failure("setgroups(" + joined(gids) + ")", libc.errno());
    }

    /**
     * @throws IOException if the call fails, typically EPERM without CAP_SETGID
     */
    public void setresgid(int rgid, int egid, int sgid) throws IOException
    {
        if (libc.setresgid(rgid, egid, sgid) < 0)
            throw failure("setresgid(" + rgid + "," + egid + "," + sgid + ")", libc.errno());
    }

    /**
     * <p>Setting all three ids to a non-zero uid also clears every capability, for good.</p>
     *
     * @throws IOException if the call fails, typically EPERM without CAP_SETUID
     */
    public void setresuid(int ruid, int euid, int suid) throws IOException
    {
        if (libc.setresuid(ruid, euid, suid) < 0)
            throw failure("setresuid(" + ruid + "," + euid + "," + suid + ")", libc.errno());
    }

    /**
     * @param mask the new file mode creation mask
     * @return the previous mask; {@code umask(2)} cannot fail
     */
    public int umask(int mask)
    {
        return posix.umask(mask);
    }

    /**
     * <p>Sets the nice value of the whole process.</p>
     * <p>On Linux the nice value belongs to each thread and {@code setpriority(PRIO_PROCESS, 0, n)}
     * changes the calling thread only, so this renices every thread (see {@link #forEachThread}).</p>
     *
     * @param niceValue the nice value, -20 (highest priority) to 19
     * @throws IOException if a thread cannot be reniced, typically EACCES when lowering the value without privilege
     */
    public void setpriority(int niceValue) throws IOException
    {
        forEachThread(tid -> posix.setpriority(PRIO_PROCESS, tid, niceValue) == 0 ? 0 : posix.errno(),
            tid -> "setpriority(PRIO_PROCESS," + tid + "," + niceValue + ")");
    }

    /**
     * <p>Puts every thread of the process under {@code SCHED_BATCH}, keeping its nice value: a thread of this
     * process that wakes up no longer preempts the thread running on its CPU; it waits until that thread's turn
     * ends, which the scheduler's tick decides, or runs at once on an idle CPU.</p>
     * <p>Like the nice value, the policy belongs to each thread, and a new thread inherits its creator's.</p>
     *
     * @throws IOException if a thread cannot change its policy
     */
    public void setBatchScheduling() throws IOException
    {
        forEachThread(tid -> libc.sched_setscheduler(tid, SCHED_BATCH) == 0 ? 0 : libc.errno(),
            tid -> "sched_setscheduler(" + tid + ",SCHED_BATCH)");
    }

    /**
     * Applies {@code call} to every thread in {@code /proc/self/task}, again until a pass finds no new thread.
     *
     * @param call applied to a thread id; returns 0, or the errno of its failure
     * @param description describes the call for a thread id, in the failure's message
     * @throws IOException if the call fails on a thread that still exists
     */
    private void forEachThread(IntUnaryOperator call, IntFunction<String> description) throws IOException
    {
        Set<Integer> done = new HashSet<>();
        List<Integer> pending = threadIds(done);
        while (!pending.isEmpty())
        {
            for (int tid : pending)
            {
                int errno = call.applyAsInt(tid);
                // ESRCH: the thread ended since we listed it; nothing left to change.
                if (errno != 0 && errno != Errno.ESRCH.intValue())
                    throw failure(description.apply(tid), errno);
                done.add(tid);
            }
            pending = threadIds(done);
        }
    }

    private static List<Integer> threadIds(Set<Integer> excluded) throws IOException
    {
        try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task")))
        {
            return tasks.map(task -> Integer.valueOf(task.getFileName().toString()))
                .filter(tid -> !excluded.contains(tid))
                .collect(Collectors.toList());
        }
    }

    /**
     * @param resource the resource, as {@code RLIMIT.RLIMIT_NOFILE.intValue()}
     * @param soft the soft limit, -1 for {@code RLIM_INFINITY}
     * @param hard the hard limit, -1 for {@code RLIM_INFINITY}
     * @throws IOException if the call fails, e.g. EPERM when raising the hard limit without privilege
     */
    public void setrlimit(int resource, long soft, long hard) throws IOException
    {
        if (posix.setrlimit(resource, soft, hard) < 0)
            throw failure("setrlimit(" + rlimitName(resource) + "," + rlimitValue(soft) + "," + rlimitValue(hard) + ")", posix.errno());
    }

    /**
     * @return the uid of the passwd entry named {@code userName}, empty if there is none
     */
    public OptionalInt uidOf(String userName)
    {
        return passwd(userName).map(entry -> OptionalInt.of(entry.uid())).orElse(OptionalInt.empty());
    }

    /**
     * @return the name of the (first) passwd entry with {@code uid}, empty if there is none
     */
    public Optional<String> userName(int uid)
    {
        synchronized (lookupLock)
        {
            return PasswdEntry.copyOf(posix.getpwuid(uid)).map(PasswdEntry::name);
        }
    }

    /**
     * @return the primary gid of the passwd entry named {@code user}, empty if there is none
     */
    public OptionalInt primaryGidOf(String user)
    {
        return passwd(user).map(entry -> OptionalInt.of(entry.gid())).orElse(OptionalInt.empty());
    }

    /**
     * @return the home directory of the passwd entry named {@code user}, empty if there is none
     */
    public Optional<String> homeOf(String user)
    {
        return passwd(user).map(PasswdEntry::home);
    }

    /**
     * @return the gid of the group entry named {@code groupName}, empty if there is none
     */
    public OptionalInt gidOf(String groupName)
    {
        if (!isLookupName(groupName))
            return OptionalInt.empty();
        synchronized (lookupLock)
        {
            Group group = posix.getgrnam(groupName);
            return group == null ? OptionalInt.empty() : OptionalInt.of((int)group.getGID());
        }
    }

    /**
     * <p>The groups {@code initgroups(user, primaryGid)} would set: {@code primaryGid} plus every
     * group that lists {@code user} as a member, as {@code getgrouplist(3)} reports them.</p>
     *
     * @param user the user name
     * @param primaryGid the group always included
     * @return the group ids, sorted, without duplicates, containing {@code primaryGid}
     */
    public int[] groupListOf(String user, int primaryGid)
    {
        return groupListOf(user, primaryGid, INITIAL_GROUP_LIST_CAPACITY);
    }

    int[] groupListOf(String user, int primaryGid, int initialCapacity)
    {
        if (!isLookupName(user))
            throw new IllegalArgumentException("invalid user name '" + user + "'");
        int[] count = {initialCapacity};
        while (true)
        {
            int[] groups = new int[count[0]];
            if (libc.getgrouplist(user, primaryGid, groups, count) >= 0)
                return sortedDistinct(Arrays.copyOf(groups, count[0]));
            // -1 means the buffer was too small and count now holds the size needed;
            // grow by ourselves should a C library not report it.
            if (count[0] <= groups.length)
                count[0] = Math.max(1, groups.length * 2);
            if (count[0] > MAX_GROUPS)
                throw new IllegalStateException("getgrouplist(" + user + "," + primaryGid + ") reports more than " + MAX_GROUPS + " groups");
        }
    }

    private Optional<PasswdEntry> passwd(String user)
    {
        if (!isLookupName(user))
            return Optional.empty();
        synchronized (lookupLock)
        {
            return PasswdEntry.copyOf(posix.getpwnam(user));
        }
    }

    /**
     * A name with a NUL would be cut short by C and silently resolve another entry.
     */
    private static boolean isLookupName(String name)
    {
        return name != null && !name.isEmpty() && name.indexOf('\0') < 0;
    }

    static int[] sortedDistinct(int[] ids)
    {
        return Arrays.stream(ids).sorted().distinct().toArray();
    }

    private static String joined(int[] ids)
    {
        return Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(","));
    }

    private static String rlimitName(int resource)
    {
        // Scan rather than RLIMIT.valueOf(int), which answers with an alias such as RLIMIT_OFILE.
        return Arrays.stream(RLIMIT.values())
            .filter(rlimit -> rlimit.defined() && rlimit.intValue() == resource)
            .map(RLIMIT::name)
            .findFirst()
            .orElse(Integer.toString(resource));
    }

    private static String rlimitValue(long value)
    {
        return value == RLIM_INFINITY ? "RLIM_INFINITY" : Long.toString(value);
    }

    static IOException failure(String call, int errno)
    {
        String message = call + " failed: " + errnoText(errno);
        // Callers walking a tree a tenant may change tell "gone meanwhile" apart from other failures.
        if (errno == Errno.ENOENT.intValue())
            return new NoSuchFileException(message);
        return new IOException(message);
    }

    static String errnoText(int errno)
    {
        Errno error = Errno.valueOf(errno);
        if (!error.defined())
            return "errno " + errno;
        return error.name() + " (" + error.description() + ")";
    }

    /**
     * A copy of the fields we use of a {@code struct passwd}, taken while the lookup lock is held:
     * jnr-posix's {@link Passwd} reads the C library's static buffer, which the next lookup reuses.
     */
    private record PasswdEntry(String name, int uid, int gid, String home)
    {
        static Optional<PasswdEntry> copyOf(Passwd passwd)
        {
            if (passwd == null)
                return Optional.empty();
            return Optional.of(new PasswdEntry(passwd.getLoginName(), (int)passwd.getUID(), (int)passwd.getGID(), passwd.getHome()));
        }
    }

    /**
     * @param fd an open file descriptor
     * @return a new descriptor for the same open file
     * @throws IOException if {@code dup} failed
     */
    public int dup(int fd) throws IOException
    {
        int result = posix.dup(fd);
        if (result < 0)
            throw new IOException("dup(" + fd + ") failed: errno " + posix.errno());
        return result;
    }

    /**
     * Makes {@code newFd} a copy of {@code oldFd}, closing what {@code newFd} was.
     * @throws IOException if {@code dup2} failed
     */
    public void dup2(int oldFd, int newFd) throws IOException
    {
        if (posix.dup2(oldFd, newFd) < 0)
            throw new IOException("dup2(" + oldFd + "," + newFd + ") failed: errno " + posix.errno());
    }

    /**
     * Asks the kernel to give a pipe {@code capacity} bytes of buffer. An unprivileged process may ask for up to
     * {@code /proc/sys/fs/pipe-max-size}; the pages are allocated only while bytes wait in the pipe.
     * @param fd either end of a pipe
     * @param capacity the capacity wanted, in bytes
     * @return the capacity the kernel gave: {@code capacity} rounded up to a power of two pages
     * @throws IOException if the kernel refused, for example over the limit
     */
    public int setPipeCapacity(int fd, int capacity) throws IOException
    {
        int result = libc.fcntl(fd, F_SETPIPE_SZ, capacity);
        if (result < 0)
            throw failure("fcntl(" + fd + ",F_SETPIPE_SZ," + capacity + ")", libc.errno());
        return result;
    }

    /**
     * @return a new pipe, both ends closed on exec: its read end, then its write end
     * @throws IOException if the call fails, for example out of descriptors
     */
    public int[] pipe() throws IOException
    {
        int[] fds = new int[2];
        if (libc.pipe2(fds, OpenFlags.O_CLOEXEC.intValue()) < 0)
            throw failure("pipe2(O_CLOEXEC)", libc.errno());
        return fds;
    }

    /**
     * Sends a signal to every process of a process group.
     * @param pgid the process group, the pid of its leader; never 0 or 1, which would mean this process's own
     * group or init's
     * @param signal the signal, such as 9 for {@code SIGKILL}
     * @return false if the group has no process left (ESRCH)
     * @throws IOException if the call fails otherwise, typically EPERM for a group of another user
     */
    public boolean killProcessGroup(long pgid, int signal) throws IOException
    {
        if (pgid <= 1 || pgid > Integer.MAX_VALUE)
            throw new IllegalArgumentException("not a process group to signal: " + pgid);
        if (libc.kill(-(int)pgid, signal) == 0)
            return true;
        int errno = libc.errno();
        if (errno == Errno.ESRCH.intValue())
            return false;
        throw failure("kill(-" + pgid + "," + signal + ")", errno);
    }

    /**
     * @param fd either end of a pipe
     * @return the pipe's capacity, in bytes
     * @throws IOException if {@code fd} is not a pipe
     */
    public int pipeCapacity(int fd) throws IOException
    {
        int result = libc.fcntl(fd, F_GETPIPE_SZ, 0);
        if (result < 0)
            throw failure("fcntl(" + fd + ",F_GETPIPE_SZ)", libc.errno());
        return result;
    }

    /**
     * @param fd either end of a pipe
     * @return the bytes written to the pipe and not read yet
     * @throws IOException if {@code fd} is not open
     */
    public int pipeQueued(int fd) throws IOException
    {
        int[] queued = new int[1];
        if (libc.ioctl(fd, FIONREAD, queued) < 0)
            throw failure("ioctl(" + fd + ",FIONREAD)", libc.errno());
        return queued[0];
    }

    /**
     * Opens a pipe for writing, in non-blocking mode, on a description of its own: the pipe's other holders keep
     * blocking writes. Through {@code /proc/self/fd/N}, a process opens one of its own pipes again (never another
     * process's {@code /proc/PID/fd}: that process may have put anything there).
     * @param path a path that opens a pipe
     * @return the new descriptor, closed on exec
     * @throws IOException if it cannot be opened, or is no pipe
     */
    public int openPipeNonBlockingForWrite(Path path) throws IOException
    {
        int fd = open(path, OpenFlags.O_WRONLY, OpenFlags.O_NONBLOCK, OpenFlags.O_CLOEXEC);
        try
        {
            pipeCapacity(fd);
            return fd;
        }
        catch (IOException x)
        {
            close(fd);
            throw new IOException(path + " is not a pipe", x);
        }
    }

    private int open(Path path, OpenFlags... flags) throws IOException
    {
        int fd = posix.open(path.toString(), flags(flags), 0);
        if (fd < 0)
            throw failure("open(" + path + "," + Arrays.stream(flags).map(OpenFlags::name).collect(Collectors.joining("|")) + ")", posix.errno());
        return fd;
    }

    /**
     * Writes what a descriptor in non-blocking mode takes now, from the buffer's position, and moves the position.
     * @return the bytes written; 0 when the descriptor would block
     * @throws IOException if the write failed otherwise, for example because the reader is gone
     */
    public int writeNonBlocking(int fd, ByteBuffer buffer) throws IOException
    {
        int written = posix.write(fd, buffer, buffer.remaining());
        if (written < 0)
        {
            int errno = posix.errno();
            if (errno == Errno.EAGAIN.intValue() || errno == Errno.EWOULDBLOCK.intValue() || errno == Errno.EINTR.intValue())
                return 0;
            throw failure("write(" + fd + ")", errno);
        }
        buffer.position(buffer.position() + written);
        return written;
    }

    /**
     * Moves the positions of {@code sources[from]} up to {@code sources[to - 1]} by {@code bytes} in all, in order:
     * what one system call took of several buffers.
     */
    static void consume(ByteBuffer[] sources, int from, int to, long bytes)
    {
        long left = bytes;
        for (int i = from; i < to && left > 0; i++)
        {
            ByteBuffer source = sources[i];
            int taken = (int)Math.min(source.remaining(), left);
            source.position(source.position() + taken);
            left -= taken;
        }
    }

    /**
     * @return whether {@link #writev} can write the buffer from its own memory: a direct buffer with a native address
     */
    public static boolean isAddressable(ByteBuffer buffer)
    {
        return buffer.isDirect() && MemoryIO.getInstance().getDirectBufferAddress(buffer) != 0;
    }

    /**
     * Writes direct buffers with one {@code writev}, from their positions: the kernel copies from the buffers' own
     * memory, where a single {@code write} of several buffers would first need them copied into one. The positions
     * do not move: the caller moves those of the buffers these stand for ({@link #consume}).
     * @param iovecs a direct buffer in native order with room for {@code 16 * count} bytes, of the caller
     * @param sources buffers that are {@link #isAddressable addressable}, or empty
     * @param blocking whether the descriptor is in blocking mode: then a write interrupted by a signal is retried;
     * in non-blocking mode it returns 0, as it does when the descriptor would block
     * @return the bytes written
     * @throws IOException if the write failed, for example because the reader is gone
     */
    public long writev(int fd, ByteBuffer iovecs, ByteBuffer[] sources, int offset, int count, boolean blocking) throws IOException
    {
        MemoryIO memory = MemoryIO.getInstance();
        iovecs.clear();
        long total = 0;
        for (int i = offset; i < offset + count; i++)
        {
            ByteBuffer source = sources[i];
            long base = source.hasRemaining() ? memory.getDirectBufferAddress(source) : 0;
            if (base == 0 && source.hasRemaining())
                throw new IllegalArgumentException("writev of a buffer with no native address: " + source);
            iovecs.putLong(base == 0 ? 0 : base + source.position());
            iovecs.putLong(source.remaining());
            total += source.remaining();
        }
        long address = memory.getDirectBufferAddress(iovecs);
        while (true)
        {
            long written = libc.writev(fd, address, count);
            if (written >= 0)
            {
                if (written == 0 && total > 0 && blocking)
                    throw new IOException("writev(" + fd + ") of " + total + " bytes wrote nothing");
                return written;
            }
            int errno = libc.errno();
            if (errno == Errno.EINTR.intValue() && blocking)
                continue;
            if (!blocking && (errno == Errno.EAGAIN.intValue() || errno == Errno.EWOULDBLOCK.intValue() || errno == Errno.EINTR.intValue()))
                return 0;
            throw failure("writev(" + fd + ")", errno);
        }
    }

    /**
     * <p>Opens a directory by path, refusing a symbolic link as its last component. Only for a path that no one
     * but root can change (see {@link TrustedFiles}): what is below it is then reached through the descriptor.</p>
     *
     * @return a descriptor of the directory, closed on exec
     * @throws IOException if it cannot be opened or is no directory
     */
    public int openDirectory(Path path) throws IOException
    {
        return open(path, OpenFlags.O_RDONLY, OpenFlags.O_DIRECTORY, OpenFlags.O_NOFOLLOW, OpenFlags.O_CLOEXEC);
    }

    /**
     * <p>Opens the directory {@code name} of the directory {@code dirFd} without following a symbolic link. A name
     * that is anything else (a file, a link, a FIFO) fails at once: the open never blocks and never leaves
     * {@code dirFd}.</p>
     *
     * @param name one path component, no {@code /}
     * @return a descriptor of the directory, closed on exec
     * @throws NotDirectoryException if {@code name} is no directory or is a symbolic link
     * @throws NoSuchFileException if there is no such name
     * @throws IOException if it cannot be opened otherwise
     */
    public int openDirectoryAt(int dirFd, String name) throws IOException
    {
        int fd = libc.openat(dirFd, checkedName(name), flags(OpenFlags.O_RDONLY, OpenFlags.O_DIRECTORY, OpenFlags.O_NOFOLLOW, OpenFlags.O_CLOEXEC, OpenFlags.O_NONBLOCK), 0);
        if (fd >= 0)
            return fd;
        int errno = libc.errno();
        if (errno == Errno.ENOTDIR.intValue() || errno == Errno.ELOOP.intValue())
            throw new NotDirectoryException("openat(" + dirFd + "," + name + ",O_DIRECTORY|O_NOFOLLOW) failed: " + errnoText(errno));
        throw failure("openat(" + dirFd + "," + name + ",O_DIRECTORY|O_NOFOLLOW)", errno);
    }

    /**
     * <p>Opens the file {@code name} of the directory {@code dirFd} for appending, creating it with {@code mode}
     * (less the umask) if it does not exist, without following a symbolic link. {@code O_NONBLOCK}: a FIFO put in
     * its place cannot block the open; the caller checks with {@link #fstat(int)} that it opened a regular file.</p>
     *
     * @param name one path component, no {@code /}
     * @return the descriptor, closed on exec
     * @throws IOException if it cannot be opened, for example ELOOP for a symbolic link
     */
    public int openForAppendAt(int dirFd, String name, int mode) throws IOException
    {
        int fd = libc.openat(dirFd, checkedName(name), flags(OpenFlags.O_WRONLY, OpenFlags.O_APPEND, OpenFlags.O_CREAT, OpenFlags.O_NOFOLLOW, OpenFlags.O_CLOEXEC, OpenFlags.O_NONBLOCK), mode);
        if (fd < 0)
            throw failure("openat(" + dirFd + "," + name + ",O_WRONLY|O_APPEND|O_CREAT|O_NOFOLLOW,0" + Integer.toOctalString(mode) + ")", libc.errno());
        return fd;
    }

    /**
     * <p>Creates the file {@code name} of the directory {@code dirFd} for appending, with {@code mode} (less the
     * umask), only if no such name exists ({@code O_EXCL}: not even a symbolic link is followed).</p>
     *
     * @param name one path component, no {@code /}
     * @return the descriptor, closed on exec; -1 if the name exists
     * @throws IOException if it cannot be created otherwise
     */
    public int createForAppendAt(int dirFd, String name, int mode) throws IOException
    {
        int fd = libc.openat(dirFd, checkedName(name), flags(OpenFlags.O_WRONLY, OpenFlags.O_APPEND, OpenFlags.O_CREAT, OpenFlags.O_EXCL, OpenFlags.O_NOFOLLOW, OpenFlags.O_CLOEXEC, OpenFlags.O_NONBLOCK), mode);
        if (fd >= 0)
            return fd;
        int errno = libc.errno();
        if (errno == Errno.EEXIST.intValue())
            return -1;
        throw failure("openat(" + dirFd + "," + name + ",O_WRONLY|O_APPEND|O_CREAT|O_EXCL|O_NOFOLLOW,0" + Integer.toOctalString(mode) + ")", errno);
    }

    /**
     * <p>Opens the existing file {@code name} of the directory {@code dirFd} for appending, without following a
     * symbolic link and without blocking on a FIFO; the caller checks with {@link #fstat(int)} what it opened.</p>
     *
     * @param name one path component, no {@code /}
     * @return the descriptor, closed on exec
     * @throws NoSuchFileException if there is no such name
     * @throws IOException if it cannot be opened otherwise, for example ELOOP for a symbolic link
     */
    public int openExistingForAppendAt(int dirFd, String name) throws IOException
    {
        int fd = libc.openat(dirFd, checkedName(name), flags(OpenFlags.O_WRONLY, OpenFlags.O_APPEND, OpenFlags.O_NOFOLLOW, OpenFlags.O_CLOEXEC, OpenFlags.O_NONBLOCK), 0);
        if (fd < 0)
            throw failure("openat(" + dirFd + "," + name + ",O_WRONLY|O_APPEND|O_NOFOLLOW)", libc.errno());
        return fd;
    }

    /**
     * @param name one path component, no {@code /}
     * @return true if the directory was created, false if {@code name} existed already (as anything)
     * @throws IOException if it cannot be created otherwise
     */
    public boolean mkdirAt(int dirFd, String name, int mode) throws IOException
    {
        if (libc.mkdirat(dirFd, checkedName(name), mode) == 0)
            return true;
        int errno = libc.errno();
        if (errno == Errno.EEXIST.intValue())
            return false;
        throw failure("mkdirat(" + dirFd + "," + name + ",0" + Integer.toOctalString(mode) + ")", errno);
    }

    /**
     * Removes the name {@code name} of the directory {@code dirFd}; a symbolic link is removed itself, never followed.
     *
     * @param directory whether {@code name} is an (empty) directory, as {@code rmdir(2)}
     * @throws NoSuchFileException if there is no such name
     * @throws IOException if it cannot be removed otherwise, for example ENOTEMPTY
     */
    public void unlinkAt(int dirFd, String name, boolean directory) throws IOException
    {
        if (libc.unlinkat(dirFd, checkedName(name), directory ? AT_REMOVEDIR : 0) < 0)
            throw failure("unlinkat(" + dirFd + "," + name + (directory ? ",AT_REMOVEDIR)" : ",0)"), libc.errno());
    }

    /**
     * Renames {@code from} to {@code to}, both names of the directory {@code dirFd}, replacing {@code to}.
     *
     * @throws IOException if the rename failed
     */
    public void renameAt(int dirFd, String from, String to) throws IOException
    {
        if (libc.renameat(dirFd, checkedName(from), checkedName(to)) < 0)
            throw failure("renameat(" + dirFd + "," + from + "," + to + ")", libc.errno());
    }

    /**
     * @return the status of the open file {@code fd}: what it is, owner, group, mode, size
     * @throws IOException if the call fails
     */
    public FileStat fstat(int fd) throws IOException
    {
        FileStat stat = posix.allocateStat();
        if (posix.fstat(fd, stat) < 0)
            throw failure("fstat(" + fd + ")", posix.errno());
        return stat;
    }

    /**
     * @param uid the new owner, or {@link #UNCHANGED_ID}
     * @param gid the new group, or {@link #UNCHANGED_ID}
     * @throws IOException if the call fails, typically EPERM without CAP_CHOWN
     */
    public void fchown(int fd, int uid, int gid) throws IOException
    {
        if (posix.fchown(fd, uid, gid) < 0)
            throw failure("fchown(" + fd + "," + uid + "," + gid + ")", posix.errno());
    }

    /**
     * @throws IOException if the call fails
     */
    public void fchmod(int fd, int mode) throws IOException
    {
        if (posix.fchmod(fd, mode) < 0)
            throw failure("fchmod(" + fd + ",0" + Integer.toOctalString(mode) + ")", posix.errno());
    }

    /**
     * Writes all of {@code bytes} to a blocking descriptor, such as a regular file.
     *
     * @throws IOException if a write failed
     */
    public void write(int fd, byte[] bytes) throws IOException
    {
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        while (buffer.hasRemaining())
        {
            write(fd, buffer);
        }
    }

    /**
     * <p>The names in an open directory, {@code .} and {@code ..} excepted. Linux's {@code /proc/self/fd/N} opens
     * the very directory {@code dirFd} refers to, wherever it was moved, whatever its path now leads to.</p>
     *
     * @throws IOException if the directory cannot be read
     */
    public List<String> list(int dirFd) throws IOException
    {
        try (Stream<Path> entries = Files.list(Path.of("/proc/self/fd", Integer.toString(dirFd))))
        {
            return entries.map(entry -> entry.getFileName().toString()).collect(Collectors.toList());
        }
    }

    private static String checkedName(String name)
    {
        if (name.isEmpty() || name.equals(".") || name.equals("..") || name.indexOf('/') >= 0 || name.indexOf('\0') >= 0)
            throw new IllegalArgumentException("not a single path component: '" + name + "'");
        return name;
    }

    private static int flags(OpenFlags... flags)
    {
        return Arrays.stream(flags).mapToInt(OpenFlags::intValue).reduce(0, (a, b) -> a | b);
    }

    /**
     * Writes to a descriptor in blocking mode, from the buffer's position, and moves the position; a write
     * interrupted by a signal before it wrote anything is tried again.
     * @return the bytes written, at least one unless the buffer is empty
     * @throws IOException if the write failed, for example because the reader is gone
     */
    public int write(int fd, ByteBuffer buffer) throws IOException
    {
        if (!buffer.hasRemaining())
            return 0;
        while (true)
        {
            int written = posix.write(fd, buffer, buffer.remaining());
            if (written > 0)
            {
                buffer.position(buffer.position() + written);
                return written;
            }
            if (written == 0)
                throw new IOException("write(" + fd + ") of " + buffer.remaining() + " bytes wrote nothing");
            int errno = posix.errno();
            if (errno != Errno.EINTR.intValue())
                throw failure("write(" + fd + ")", errno);
        }
    }

    /**
     * @throws IOException if {@code close} failed
     */
    public void close(int fd) throws IOException
    {
        if (posix.close(fd) < 0)
            throw failure("close(" + fd + ")", posix.errno());
    }
}
