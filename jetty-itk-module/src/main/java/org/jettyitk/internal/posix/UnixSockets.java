package org.jettyitk.internal.posix;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.stream.Stream;

import jnr.ffi.LibraryLoader;
import jnr.ffi.LibraryOption;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.annotations.In;
import jnr.posix.CmsgHdr;
import jnr.posix.MsgHdr;
import jnr.posix.POSIX;
import jnr.posix.POSIXFactory;
import jnr.posix.SpawnFileAction;

/**
 * <p>What privilege separation needs of the kernel and jnr-posix does not offer in {@link Posix}: a Unix
 * {@code SOCK_SEQPACKET} socket pair, messages with the sender's credentials ({@code SO_PASSCRED} /
 * {@code SCM_CREDENTIALS}, filled in by the kernel: an unprivileged sender can state no uid or pid but its own) and
 * descriptors ({@code SCM_RIGHTS}), {@code prctl(PR_SET_NO_NEW_PRIVS)}, and a {@code posix_spawn} that gives
 * the child one of our descriptors as its stdin (which {@link ProcessBuilder} cannot: it closes all but 0..2).</p>
 * <p>Every call's result and errno are checked; a failure is an {@link IOException} naming the call.</p>
 */
public final class UnixSockets
{
    private static final int AF_UNIX = 1;
    private static final int SOCK_SEQPACKET = 5;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int SOL_SOCKET = 1;
    private static final int SO_PASSCRED = 16;
    private static final int SCM_RIGHTS = 1;
    private static final int SCM_CREDENTIALS = 2;
    private static final int MSG_TRUNC = 0x20;
    private static final int MSG_CTRUNC = 0x8;
    private static final int MSG_NOSIGNAL = 0x4000;
    private static final int MSG_CMSG_CLOEXEC = 0x40000000;
    private static final int PR_SET_NO_NEW_PRIVS = 38;
    private static final int PR_GET_NO_NEW_PRIVS = 39;
    private static final int EINTR = 4;
    private static final long SECCOMP_SET_MODE_FILTER = 1;
    private static final long SECCOMP_FILTER_FLAG_TSYNC = 1;
    /** {@code BPF_RET | BPF_K}: return the constant. */
    private static final short BPF_RET_K = 0x06;
    private static final int SECCOMP_RET_ALLOW = 0x7fff0000;

    /**
     * <p>The jnr-ffi binding of the calls jnr-posix lacks. Public only because jnr-ffi generates its implementation
     * in a package of its own.</p>
     */
    public interface Functions
    {
        int setsockopt(int fd, int level, int name, @In int[] value, int length);

        int prctl(int option, long arg2, long arg3, long arg4, long arg5);

        int close(int fd);

        int shutdown(int fd, int how);

        long syscall(long number, long operation, long flags, Pointer arguments);
    }

    private static UnixSockets instance;

    private final POSIX posix;
    private final Functions functions;
    private final jnr.ffi.Runtime runtime;

    private UnixSockets(POSIX posix, Functions functions)
    {
        this.posix = posix;
        this.functions = functions;
        this.runtime = jnr.ffi.Runtime.getRuntime(functions);
    }

    /**
     * @return the process-wide instance
     * @throws IOException if the native C library cannot be bound
     */
    public static synchronized UnixSockets get() throws IOException
    {
        if (instance == null)
        {
            try
            {
                POSIX posix = POSIXFactory.getNativePOSIX();
                if (posix == null || !posix.isNative())
                    throw new IOException("native POSIX unavailable");
                Functions functions = LibraryLoader.create(Functions.class)
                    .option(LibraryOption.LoadNow, true)
                    .option(LibraryOption.SaveError, true)
                    .load("c");
                instance = new UnixSockets(posix, functions);
            }
            catch (LinkageError | RuntimeException x)
            {
                throw new IOException("native POSIX unavailable: " + x, x);
            }
        }
        return instance;
    }

    private int errno()
    {
        return runtime.getLastError();
    }

    /**
     * @return a connected pair of {@code SOCK_SEQPACKET} Unix sockets, both closed on exec
     */
    public int[] socketPair() throws IOException
    {
        int[] fds = new int[2];
        if (posix.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0)
            throw Posix.failure("socketpair(AF_UNIX,SOCK_SEQPACKET)", posix.errno());
        return fds;
    }

    /**
     * Makes the kernel attach the sender's pid, uid and gid to every message this socket receives.
     */
    public void passCredentials(int fd) throws IOException
    {
        if (functions.setsockopt(fd, SOL_SOCKET, SO_PASSCRED, new int[]{1}, Integer.BYTES) < 0)
            throw Posix.failure("setsockopt(" + fd + ",SO_PASSCRED)", errno());
    }

    /**
     * Sends one message, with descriptors when {@code fds} is not empty.
     */
    public void send(int fd, byte[] message, int... fds) throws IOException
    {
        send(fd, message, null, fds);
    }

    /**
     * Sends one message stating credentials: the kernel lets only a privileged sender state other than its own.
     */
    public void sendAs(int fd, byte[] message, Credentials credentials) throws IOException
    {
        send(fd, message, credentials, new int[0]);
    }

    private void send(int fd, byte[] message, Credentials credentials, int[] fds) throws IOException
    {
        MsgHdr header = posix.allocateMsgHdr();
        ByteBuffer data = ByteBuffer.allocateDirect(message.length);
        data.put(message).flip();
        header.setIov(new ByteBuffer[]{data});
        if (fds.length > 0 || credentials != null)
        {
            int[] lengths = fds.length > 0 ? new int[]{Integer.BYTES * fds.length} : new int[]{3 * Integer.BYTES};
            CmsgHdr control = header.allocateControls(lengths)[0];
            ByteBuffer content = ByteBuffer.allocate(lengths[0]).order(ByteOrder.nativeOrder());
            control.setLevel(SOL_SOCKET);
            if (fds.length > 0)
            {
                control.setType(SCM_RIGHTS);
                for (int descriptor : fds)
                {
                    content.putInt(descriptor);
                }
            }
            else
            {
                control.setType(SCM_CREDENTIALS);
                content.putInt(credentials.pid()).putInt(credentials.uid()).putInt(credentials.gid());
            }
            content.flip();
            control.setData(content);
        }
        while (true)
        {
            int sent = posix.sendmsg(fd, header, MSG_NOSIGNAL);
            if (sent == message.length)
                return;
            if (sent >= 0)
                throw new IOException("sendmsg(" + fd + ") sent " + sent + " of " + message.length + " bytes");
            int errno = posix.errno();
            if (errno != EINTR)
                throw Posix.failure("sendmsg(" + fd + ")", errno);
        }
    }

    /**
     * Receives one message.
     *
     * @param maxLength the longest message accepted; a longer one is received truncated and so marked
     * @param maxFds the most descriptors accepted; more are closed by the kernel and the message so marked
     * @return the message, or null at end of stream (the peer closed its end) or for an empty message without
     * credentials
     */
    public Message receive(int fd, int maxLength, int maxFds) throws IOException
    {
        MsgHdr header = posix.allocateMsgHdr();
        ByteBuffer data = ByteBuffer.allocateDirect(maxLength);
        header.setIov(new ByteBuffer[]{data});
        // Room for credentials and for descriptors, in two control messages.
        header.allocateControls(new int[]{3 * Integer.BYTES, Math.max(1, maxFds) * Integer.BYTES});
        int received;
        while (true)
        {
            received = posix.recvmsg(fd, header, MSG_CMSG_CLOEXEC);
            if (received >= 0)
                break;
            int errno = posix.errno();
            if (errno != EINTR)
                throw Posix.failure("recvmsg(" + fd + ")", errno);
        }
        Credentials credentials = null;
        List<Integer> fds = new ArrayList<>();
        for (CmsgHdr control : header.getControls())
        {
            if (control.getLevel() != SOL_SOCKET)
                continue;
            ByteBuffer content = control.getData().order(ByteOrder.nativeOrder());
            if (control.getType() == SCM_CREDENTIALS && content.remaining() >= 3 * Integer.BYTES)
                credentials = new Credentials(content.getInt(), content.getInt(), content.getInt());
            else if (control.getType() == SCM_RIGHTS)
            {
                while (content.remaining() >= Integer.BYTES)
                {
                    fds.add(content.getInt());
                }
            }
        }
        // SOCK_SEQPACKET reads 0 bytes both at the end of the stream and for an empty message: only the latter
        // comes with credentials (on a socket that passes them) or descriptors.
        if (received == 0 && credentials == null && fds.isEmpty())
            return null;
        byte[] bytes = new byte[Math.min(received, maxLength)];
        data.get(0, bytes);
        int flags = header.getFlags();
        boolean truncated = (flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
        return new Message(bytes, credentials, fds.stream().mapToInt(Integer::intValue).toArray(), truncated);
    }

    public void close(int fd) throws IOException
    {
        if (functions.close(fd) < 0)
            throw Posix.failure("close(" + fd + ")", errno());
    }

    /**
     * Shuts both directions of a socket down: a thread blocked receiving on it sees end of stream, and so does the
     * peer.
     */
    public void shutdown(int fd) throws IOException
    {
        if (functions.shutdown(fd, 2) < 0)
            throw Posix.failure("shutdown(" + fd + ")", errno());
    }

    /**
     * Sets no-new-privs: no {@code execve} of this process or its children can gain privileges again.
     */
    public void setNoNewPrivileges() throws IOException
    {
        if (functions.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            throw Posix.failure("prctl(PR_SET_NO_NEW_PRIVS)", errno());
    }

    /**
     * <p>Sets no-new-privs on every thread of this process. {@code prctl} sets it on the calling thread alone (and
     * the threads it starts later); the kernel copies it to all threads when a seccomp filter is installed with
     * {@code SECCOMP_FILTER_FLAG_TSYNC}. The filter installed allows every call: it changes nothing else.</p>
     */
    public void setNoNewPrivilegesOnAllThreads() throws IOException
    {
        setNoNewPrivileges();
        long number = switch (System.getProperty("os.arch"))
        {
            case "amd64", "x86_64" -> 317;
            case "aarch64" -> 277;
            default -> throw new IOException("seccomp: no system call number known for " + System.getProperty("os.arch"));
        };
        Pointer filter = Memory.allocateDirect(runtime, 8);
        filter.putShort(0, BPF_RET_K);
        filter.putByte(2, (byte)0);
        filter.putByte(3, (byte)0);
        filter.putInt(4, SECCOMP_RET_ALLOW);
        // struct sock_fprog: an unsigned short length, then (aligned) the address of the instructions.
        Pointer program = Memory.allocateDirect(runtime, 16);
        program.putShort(0, (short)1);
        program.putAddress(8, filter.address());
        long result = functions.syscall(number, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, program);
        if (result < 0)
            throw Posix.failure("seccomp(SECCOMP_SET_MODE_FILTER,TSYNC)", errno());
        if (result > 0)
            throw new IOException("seccomp(SECCOMP_SET_MODE_FILTER,TSYNC): thread " + result + " could not be synchronised");
    }

    /**
     * @return whether no-new-privs is set on the calling thread, as the kernel says
     */
    public boolean isNoNewPrivileges() throws IOException
    {
        int result = functions.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
        if (result < 0)
            throw Posix.failure("prctl(PR_GET_NO_NEW_PRIVS)", errno());
        return result == 1;
    }

    /**
     * Starts a program with {@code stdin} as its descriptor 0, its stdout and stderr this process's, and every
     * other descriptor of this process closed in the child.
     *
     * @return the child's pid
     */
    public long spawn(String program, List<String> arguments, List<String> environment, int stdin) throws IOException
    {
        List<SpawnFileAction> actions = new ArrayList<>();
        actions.add(SpawnFileAction.dup(stdin, 0));
        for (int open : openDescriptors())
        {
            if (open > 2)
                actions.add(SpawnFileAction.close(open));
        }
        List<String> argv = new ArrayList<>();
        argv.add(program);
        argv.addAll(arguments);
        long pid = posix.posix_spawnp(program, actions, argv, (Collection<? extends CharSequence>)environment);
        if (pid < 0)
            throw Posix.failure("posix_spawnp(" + program + ")", posix.errno());
        return pid;
    }

    private static int[] openDescriptors() throws IOException
    {
        try (Stream<Path> list = Files.list(Path.of("/proc/self/fd")))
        {
            return list.map(p -> p.getFileName().toString()).filter(n -> n.chars().allMatch(Character::isDigit)).mapToInt(Integer::parseInt).toArray();
        }
    }

    /**
     * Waits for a child to exit and reaps it.
     *
     * @return its wait status
     */
    public int waitFor(long pid) throws IOException
    {
        int[] status = new int[1];
        while (true)
        {
            int result = posix.waitpid(pid, status, 0);
            if (result == pid)
                return status[0];
            int errno = posix.errno();
            if (result >= 0 || errno != EINTR)
                throw Posix.failure("waitpid(" + pid + ")", errno);
        }
    }

    /**
     * The credentials the kernel attached to a message: the sender's, or, for a privileged sender, those it stated.
     */
    public record Credentials(int pid, int uid, int gid)
    {
    }

    /**
     * A received message.
     *
     * @param bytes the data, at most the length asked for
     * @param credentials the sender's credentials, or null if none came (the socket does not pass them)
     * @param fds the descriptors received, now this process's own, closed on exec
     * @param truncated whether data or descriptors did not fit
     */
    public record Message(byte[] bytes, Credentials credentials, int[] fds, boolean truncated)
    {
    }
}
