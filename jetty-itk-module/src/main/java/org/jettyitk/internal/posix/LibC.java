package org.jettyitk.internal.posix;

import jnr.ffi.LibraryLoader;
import jnr.ffi.LibraryOption;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.intptr_t;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/**
 * <p>The libc calls that jnr-posix does not bind: the {@code setres*id} / {@code getres*id}
 * family, {@code setgroups}, {@code getgrouplist}, {@code sched_setscheduler}, {@code pipe2}, {@code kill} (with
 * its errno), and {@code fcntl} and
 * {@code ioctl} for any command (jnr-posix takes only the commands its constants know, and none for a pipe's
 * capacity or content), and the {@code *at} calls that act on a name relative to an open directory
 * ({@code openat}, {@code mkdirat}, {@code unlinkat}, {@code renameat}).</p>
 * <p>Every call goes through the glibc wrapper, never through {@code syscall(2)}: the kernel
 * changes the credentials of the calling thread only, and it is glibc's {@code setxid}
 * broadcast that applies a change to every thread of the JVM.</p>
 * <p>Methods return the raw C result; after a {@code -1}, {@link #errno()} called on the same
 * thread tells why. Turning results into exceptions is {@link Posix}'s job.</p>
 */
final class LibC
{
    /**
     * <p>The jnr-ffi binding itself. It is public only because jnr-ffi generates its
     * implementation in a package of its own; nothing outside this package may use it.</p>
     */
    public interface Functions
    {
        int setgroups(@size_t long size, @In int[] list);

        int setresuid(int ruid, int euid, int suid);

        int setresgid(int rgid, int egid, int sgid);

        int getresuid(@Out int[] ruid, @Out int[] euid, @Out int[] suid);

        int getresgid(@Out int[] rgid, @Out int[] egid, @Out int[] sgid);

        int getgrouplist(String user, int group, @Out int[] groups, @In @Out int[] ngroups);

        int fcntl(int fd, int cmd, int arg);

        int ioctl(int fd, long request, @Out int[] value);

        int sched_setscheduler(int pid, int policy, @In int[] param);

        int openat(int dirfd, String path, int flags, int mode);

        int mkdirat(int dirfd, String path, int mode);

        int unlinkat(int dirfd, String path, int flags);

        int renameat(int olddirfd, String oldpath, int newdirfd, String newpath);

        int pipe2(@Out int[] fds, int flags);

        int kill(int pid, int signal);

        /**
         * @param iov the address of {@code iovcnt} {@code struct iovec}s: each a base address and a length
         */
        @ssize_t long writev(int fd, @intptr_t long iov, int iovcnt);
    }

    private final Functions functions;
    private final jnr.ffi.Runtime runtime;

    private LibC(Functions functions)
    {
        this.functions = functions;
        this.runtime = jnr.ffi.Runtime.getRuntime(functions);
    }

    /**
     * @return the binding to the C library of this process
     * @throws UnsatisfiedLinkError if libc or one of the functions cannot be bound
     */
    static LibC load()
    {
        // LoadNow: a missing symbol must fail here, before a privilege drop, not halfway through it.
        Functions functions = LibraryLoader.create(Functions.class)
            .option(LibraryOption.LoadNow, true)
            .option(LibraryOption.SaveError, true)
            .load("c");
        return new LibC(functions);
    }

    int setgroups(int[] gids)
    {
        return functions.setgroups(gids.length, gids);
    }

    int setresuid(int ruid, int euid, int suid)
    {
        return functions.setresuid(ruid, euid, suid);
    }

    int setresgid(int rgid, int egid, int sgid)
    {
        return functions.setresgid(rgid, egid, sgid);
    }

    int getresuid(int[] ids)
    {
        return getres(ids, true);
    }

    int getresgid(int[] ids)
    {
        return getres(ids, false);
    }

    int getgrouplist(String user, int group, int[] groups, int[] ngroups)
    {
        return functions.getgrouplist(user, group, groups, ngroups);
    }

    int fcntl(int fd, int cmd, int arg)
    {
        return functions.fcntl(fd, cmd, arg);
    }

    int ioctl(int fd, long request, int[] value)
    {
        return functions.ioctl(fd, request, value);
    }

    /**
     * @param tid the thread, 0 for the calling one (Linux keeps a policy per thread)
     * @param policy the policy, such as {@code SCHED_BATCH}, whose priority is 0
     */
    int sched_setscheduler(int tid, int policy)
    {
        // struct sched_param holds the priority alone.
        return functions.sched_setscheduler(tid, policy, new int[]{0});
    }

    int openat(int dirFd, String name, int flags, int mode)
    {
        return functions.openat(dirFd, name, flags, mode);
    }

    int mkdirat(int dirFd, String name, int mode)
    {
        return functions.mkdirat(dirFd, name, mode);
    }

    int unlinkat(int dirFd, String name, int flags)
    {
        return functions.unlinkat(dirFd, name, flags);
    }

    int renameat(int dirFd, String from, String to)
    {
        return functions.renameat(dirFd, from, dirFd, to);
    }

    /**
     * @param fds receives the read end, then the write end
     * @param flags such as {@code O_CLOEXEC}
     */
    int pipe2(int[] fds, int flags)
    {
        return functions.pipe2(fds, flags);
    }

    /**
     * @param pid a process id, or the negated id of a process group
     */
    int kill(int pid, int signal)
    {
        return functions.kill(pid, signal);
    }

    /**
     * @param iov the native address of {@code count} {@code struct iovec}s
     */
    long writev(int fd, long iov, int count)
    {
        return functions.writev(fd, iov, count);
    }

    /**
     * @return the errno saved by jnr-ffi after the last call of this thread
     */
    int errno()
    {
        return runtime.getLastError();
    }

    private int getres(int[] ids, boolean user)
    {
        int[] real = new int[1];
        int[] effective = new int[1];
        int[] saved = new int[1];
        int result = user
            ? functions.getresuid(real, effective, saved)
            : functions.getresgid(real, effective, saved);
        ids[0] = real[0];
        ids[1] = effective[0];
        ids[2] = saved[0];
        return result;
    }
}
