package org.jettyitk.internal.posix;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;
import java.util.stream.Stream;

/**
 * <p>The front's own drop, once its server has started: every thread of the JVM to {@code frontUser} /
 * {@code frontGroup} for good (glibc's {@code setxid} broadcast through {@link PrivilegeDrop#dropTo}), no-new-privs,
 * then the worker's proof ({@link PrivilegeDrop#verify}: every id of every thread, no capability, root
 * unreachable) and the kernel's word that no-new-privs is set.</p>
 */
public final class FrontPrivileges
{
    private FrontPrivileges()
    {
    }

    /**
     * @param user a user name or number
     * @param group a group name or number; null for the user's primary group
     * @return the front's identity, with no supplementary group
     * @throws IllegalArgumentException naming the user or group that is unknown or 0
     */
    public static Identity resolve(Posix posix, String user, String group)
    {
        if (user == null || user.isBlank())
            throw new IllegalArgumentException("no frontUser");
        int uid = id(user, posix.uidOf(user), "frontUser");
        int gid;
        if (group != null && !group.isBlank())
            gid = id(group, posix.gidOf(group), "frontGroup");
        else
        {
            OptionalInt primary = posix.primaryGidOf(user);
            if (primary.isEmpty())
                throw new IllegalArgumentException("frontUser '" + user + "' has no passwd entry: set frontGroup");
            gid = primary.getAsInt();
        }
        if (uid == 0)
            throw new IllegalArgumentException("frontUser '" + user + "' is root");
        if (gid == 0)
            throw new IllegalArgumentException("front group " + gid + " is root's");
        return new Identity(user, uid, gid, new int[0]);
    }

    private static int id(String value, OptionalInt named, String what)
    {
        if (value.chars().allMatch(Character::isDigit))
        {
            try
            {
                return Integer.parseInt(value);
            }
            catch (NumberFormatException x)
            {
                throw new IllegalArgumentException(what + " '" + value + "' is not a valid id");
            }
        }
        if (named.isEmpty())
            throw new IllegalArgumentException(what + " '" + value + "' is unknown");
        return named.getAsInt();
    }

    /**
     * Drops every thread of this process to {@code front}, sets no-new-privs, and proves the drop.
     *
     * @throws PrivilegeException naming the call that failed or what the proof found
     */
    public static void drop(Identity front) throws PrivilegeException
    {
        Posix posix;
        UnixSockets sockets;
        try
        {
            posix = Posix.get();
            sockets = UnixSockets.get();
        }
        catch (IOException x)
        {
            throw new PrivilegeException(PrivilegeDrop.EXIT_NOT_NATIVE, x.getMessage(), x);
        }
        PrivilegeDrop.dropTo(posix, front);
        try
        {
            sockets.setNoNewPrivilegesOnAllThreads();
        }
        catch (IOException x)
        {
            throw new PrivilegeException(PrivilegeDrop.EXIT_DROP_FAILED, x.getMessage(), x);
        }
        PrivilegeDrop.verify(posix, front);
        try
        {
            if (!sockets.isNoNewPrivileges())
                throw new PrivilegeException(PrivilegeDrop.EXIT_VERIFY_FAILED, "verify: prctl says no-new-privs is not set");
            List<Path> tasks;
            try (Stream<Path> list = Files.list(ProcStatus.TASKS))
            {
                tasks = list.toList();
            }
            for (Path task : tasks)
            {
                List<String> noNewPrivs;
                try
                {
                    noNewPrivs = ProcStatus.read(task.resolve("status")).words("NoNewPrivs");
                }
                catch (NoSuchFileException x)
                {
                    // The thread ended since the listing.
                    continue;
                }
                if (noNewPrivs == null || !noNewPrivs.equals(List.of("1")))
                    throw new PrivilegeException(PrivilegeDrop.EXIT_VERIFY_FAILED, "verify: NoNewPrivs of task " + task.getFileName() + " is " + noNewPrivs + ", expected 1");
            }
        }
        catch (IOException x)
        {
            throw new PrivilegeException(PrivilegeDrop.EXIT_VERIFY_FAILED, "verify: " + x.getMessage(), x);
        }
    }
}
