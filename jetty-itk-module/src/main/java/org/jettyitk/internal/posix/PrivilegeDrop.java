package org.jettyitk.internal.posix;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>Drops the worker process to its tenant's identity and proves that the drop holds, as
 * OpenSSH's {@code permanently_set_uid()} does. It is the very first thing of the worker's
 * {@code main()}, before any tenant class or file is touched:</p>
 * <pre>{@code
 * Posix posix;
 * try
 * {
 *     posix = Posix.get();
 * }
 * catch (IOException x)
 * {
 *     System.exit(PrivilegeDrop.EXIT_NOT_NATIVE);
 * }
 * try
 * {
 *     PrivilegeDrop.dropTo(posix, identity);
 *     PrivilegeDrop.verify(posix, identity);
 * }
 * catch (PrivilegeException x)
 * {
 *     System.exit(x.exitStatus());
 * }
 * }</pre>
 * <p>Usually the front already started the worker as the tenant through util-linux
 * {@code setpriv}, so {@link #dropTo(Posix, Identity)} has nothing to do and
 * {@link #verify(Posix, Identity)} is what matters. Do per-process set-up that needs privilege
 * (priority, rlimits) before the drop.</p>
 * <p>Supplementary groups are compared as sets with the gid added to both sides: whether the
 * kernel's list repeats the primary gid is a libc and launcher detail, not a privilege.</p>
 */
public final class PrivilegeDrop
{
    private static final Logger LOG = LoggerFactory.getLogger(PrivilegeDrop.class);
    /** A credential change failed: the worker may still hold privileges. */
    public static final int EXIT_DROP_FAILED = 70;
    /** The credentials after the drop are not the target's, or root is still reachable. */
    public static final int EXIT_VERIFY_FAILED = 71;
    /** Only jnr-posix's pure-Java fallback is available: nothing can be dropped nor proven. */
    public static final int EXIT_NOT_NATIVE = 72;
    private static final List<String> CAPABILITY_SETS = List.of("CapInh", "CapPrm", "CapEff", "CapAmb");
    private static final int ROOT = 0;

    private PrivilegeDrop()
    {
    }

    /**
     * <p>Makes the process run as {@code target}: all its threads, real, effective and saved ids,
     * with exactly the target's supplementary groups. Does nothing if it already does.</p>
     *
     * @param posix the native POSIX binding
     * @param target the tenant identity
     * @throws PrivilegeException with {@link #EXIT_DROP_FAILED} if a call fails
     */
    public static void dropTo(Posix posix, Identity target) throws PrivilegeException
    {
        try
        {
            if (runsAs(posix, target))
            {
                if (LOG.isDebugEnabled())
                    LOG.debug("already running as {}", target);
                return;
            }
            // Groups, then gid, then uid: setgroups and setresgid need CAP_SETGID, which
            // the uid change takes away; after it we may no longer change our groups.
            posix.setgroups(target.groups());
            posix.setresgid(target.gid(), target.gid(), target.gid());
            posix.setresuid(target.uid(), target.uid(), target.uid());
            if (LOG.isDebugEnabled())
                LOG.debug("dropped to {}", target);
        }
        catch (IOException x)
        {
            throw new PrivilegeException(EXIT_DROP_FAILED, "drop to " + target + ": " + x.getMessage(), x);
        }
    }

    private static boolean runsAs(Posix posix, Identity target) throws IOException
    {
        return allEqual(posix.getresuid(), target.uid()) &&
            allEqual(posix.getresgid(), target.gid()) &&
            groupSet(posix.getgroups(), target.gid()).equals(groupSet(target.groups(), target.gid()));
    }

    /**
     * <p>Proves that the process runs as {@code target} and cannot become root again: ids and
     * groups as libc reports them, no capability left, the kernel's view of every thread in
     * {@code /proc/self/task}, and failed attempts to regain uid 0, gid 0 and group 0.</p>
     *
     * @param posix the native POSIX binding
     * @param target the tenant identity
     * @throws PrivilegeException with {@link #EXIT_VERIFY_FAILED}, naming what mismatched
     */
    public static void verify(Posix posix, Identity target) throws PrivilegeException
    {
        try
        {
            verifyIds("getresuid", posix.getresuid(), target.uid());
            verifyIds("getresgid", posix.getresgid(), target.gid());
            verifyGroups("getgroups", posix.getgroups(), target);
            verifyNoCapabilities(ProcStatus.read(ProcStatus.SELF));
            verifyTasks(target);
            // Last: should threads disagree after all, glibc's setxid aborts the process here
            // rather than report, so the checks above that name the mismatch come first.
            verifyRootUnreachable(posix);
        }
        catch (IOException x)
        {
            throw mismatch(x.getMessage(), x);
        }
        if (LOG.isDebugEnabled())
            LOG.debug("verified {}", target);
    }

    private static void verifyIds(String call, int[] ids, int expected) throws PrivilegeException
    {
        if (!allEqual(ids, expected))
            throw mismatch(call + " is " + words(ids) + ", expected " + Integer.toUnsignedString(expected) + " x3");
    }

    private static void verifyGroups(String source, int[] groups, Identity target) throws PrivilegeException
    {
        Set<Integer> actual = groupSet(groups, target.gid());
        Set<Integer> expected = groupSet(target.groups(), target.gid());
        if (!actual.equals(expected))
            throw mismatch(source + " is " + words(groups) + ", expected " + words(target.groups()));
    }

    private static void verifyRootUnreachable(Posix posix) throws PrivilegeException
    {
        // Each attempt must fail; one that succeeds means the drop is not permanent.
        mustFail("setresuid(0,0,0)", () -> posix.setresuid(ROOT, ROOT, ROOT));
        mustFail("setresgid(0,0,0)", () -> posix.setresgid(ROOT, ROOT, ROOT));
        mustFail("setgroups(0)", () -> posix.setgroups(new int[]{ROOT}));
    }

    private static void mustFail(String call, PosixCall attempt) throws PrivilegeException
    {
        try
        {
            attempt.run();
        }
        catch (IOException expected)
        {
            return;
        }
        throw mismatch(call + " succeeded, root is still reachable");
    }

    private static void verifyNoCapabilities(ProcStatus status) throws PrivilegeException
    {
        for (String set : CAPABILITY_SETS)
        {
            List<String> value = status.words(set);
            if (value == null)
                throw mismatch("no " + set + " line in " + ProcStatus.SELF);
            if (value.size() != 1 || !value.get(0).chars().allMatch(c -> c == '0'))
                throw mismatch(set + " is " + String.join(" ", value) + ", expected 0");
        }
    }

    private static void verifyTasks(Identity target) throws IOException, PrivilegeException
    {
        List<Path> tasks;
        try (Stream<Path> list = Files.list(ProcStatus.TASKS))
        {
            tasks = list.collect(Collectors.toList());
        }
        for (Path task : tasks)
        {
            ProcStatus status;
            try
            {
                status = ProcStatus.read(task.resolve("status"));
            }
            catch (NoSuchFileException x)
            {
                // The thread ended since the listing: there is nothing left to check.
                continue;
            }
            verifyTask(task.getFileName().toString(), status, target);
        }
    }

    private static void verifyTask(String tid, ProcStatus status, Identity target) throws PrivilegeException
    {
        verifyTaskIds(tid, "Uid", status.words("Uid"), target.uid());
        verifyTaskIds(tid, "Gid", status.words("Gid"), target.gid());
        List<String> groups = status.words("Groups");
        if (groups == null || !groupSet(toInts(groups), target.gid()).equals(groupSet(target.groups(), target.gid())))
            throw mismatch("Groups line of task " + tid + " is '" + joinedOrAbsent(groups) + "', expected " + words(target.groups()));
    }

    /**
     * The kernel prints real, effective, saved and filesystem ids: all four must be the target's.
     */
    private static void verifyTaskIds(String tid, String name, List<String> ids, int expected) throws PrivilegeException
    {
        String id = Integer.toUnsignedString(expected);
        if (ids == null || ids.size() != 4 || !ids.stream().allMatch(id::equals))
            throw mismatch(name + " line of task " + tid + " is '" + joinedOrAbsent(ids) + "', expected " + id + " x4");
    }

    /**
     * @return the {@code Uid:}, {@code Gid:} and {@code Groups:} lines of {@code /proc/self/status},
     * joined with newlines, as the kernel wrote them
     * @throws UncheckedIOException if the file cannot be read
     */
    public static String describeSelf()
    {
        try
        {
            ProcStatus status = ProcStatus.read(ProcStatus.SELF);
            return Stream.of("Uid", "Gid", "Groups")
                .map(status::line)
                .filter(Objects::nonNull)
                .collect(Collectors.joining("\n"));
        }
        catch (IOException x)
        {
            throw new UncheckedIOException(x);
        }
    }

    private static boolean allEqual(int[] ids, int expected)
    {
        return IntStream.of(ids).allMatch(id -> id == expected);
    }

    private static Set<Integer> groupSet(int[] groups, int gid)
    {
        Set<Integer> set = new TreeSet<>();
        IntStream.of(groups).forEach(set::add);
        set.add(gid);
        return set;
    }

    private static int[] toInts(List<String> words) throws PrivilegeException
    {
        try
        {
            return words.stream().mapToInt(Integer::parseUnsignedInt).toArray();
        }
        catch (NumberFormatException x)
        {
            throw mismatch("unparsable group list '" + String.join(" ", words) + "'", x);
        }
    }

    private static String words(int[] ids)
    {
        return Arrays.stream(ids).mapToObj(Integer::toUnsignedString).collect(Collectors.joining(" "));
    }

    private static String joinedOrAbsent(List<String> words)
    {
        return words == null ? "<absent>" : String.join(" ", words);
    }

    private static PrivilegeException mismatch(String what)
    {
        return mismatch(what, null);
    }

    private static PrivilegeException mismatch(String what, Throwable cause)
    {
        return new PrivilegeException(EXIT_VERIFY_FAILED, "verify: " + what, cause);
    }

    /**
     * A credential call that is expected to throw.
     */
    @FunctionalInterface
    private interface PosixCall
    {
        void run() throws IOException;
    }
}
