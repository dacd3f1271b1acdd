package org.jettyitk.internal.launch;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>Keeps the front and its workers in one CPU scheduling group of the kernel, as the threads of one server.</p>
 * <p>Each worker starts in a session of its own ({@code setsid}: no terminal of the front's reaches it), and
 * Linux's autogroup ({@code kernel.sched_autogroup_enabled}, on in most distributions) makes each new session
 * a scheduling group of its own. The scheduler then shares the CPU between the front and each worker as groups,
 * not between their threads, and a wake-up across groups preempts what runs: a request crosses front, worker and
 * front again, so on the benchmark's 75 KB page the worker switched threads 4.5 times per request against 1.5,
 * and the ratio to plain Jetty fell from about 0.7 to 0.55 ({@code docs/benchmarks.md}).</p>
 * <p>The autogroup applies only to tasks in the root of the CPU controller's hierarchy. At start, as root, a front
 * that finds itself there makes a CPU cgroup {@code jetty-itk-PID} under that root and moves its whole process
 * there: the workers and the spawner it starts afterwards are born in it. A front already in a CPU cgroup of its
 * own (a systemd service with {@code CPUWeight=}, a container) stays where it is, and so does one where cgroup v2
 * has no CPU controller for it: the kernel's hierarchy is the host's to configure, so that case only gets advice
 * in the log.</p>
 * <p>Only root writes there, and nothing there is a tenant's: {@code /sys/fs/cgroup} is the kernel's, writable by
 * root alone, and a tenant cannot leave the group (moving a task takes write access to the target's
 * {@code cgroup.procs}). Groups of fronts that are gone stay behind as empty directories, which the next front's
 * start removes.</p>
 */
public final class CpuGroup
{
    private static final Logger LOG = LoggerFactory.getLogger(CpuGroup.class);
    /** The name of a front's group is this prefix and the front's pid. */
    public static final String PREFIX = "jetty-itk-";
    private static final Path AUTOGROUP_SETTING = Path.of("/proc/sys/kernel/sched_autogroup_enabled");

    private CpuGroup()
    {
    }

    /**
     * What a front should do about its CPU group.
     * @param hierarchy the root of the CPU controller's hierarchy to make the group in, or null for nothing to do
     * @param needed whether the front and its workers would otherwise be scheduled apart
     * @param reason why nothing is done, or which hierarchy the group is made in
     */
    public record Plan(Path hierarchy, boolean needed, String reason)
    {
        static Plan join(Path hierarchy, String reason)
        {
            return new Plan(hierarchy, true, reason);
        }

        static Plan notNeeded(String reason)
        {
            return new Plan(null, false, reason);
        }

        static Plan impossible(String reason)
        {
            return new Plan(null, true, reason);
        }
    }

    /**
     * Decides from the kernel's own descriptions, with no side effect.
     * @param autogroup the content of {@code /proc/sys/kernel/sched_autogroup_enabled}, empty or null if absent
     * @param cgroups the content of {@code /proc/self/cgroup}
     * @param mountInfo the content of {@code /proc/self/mountinfo}
     * @param subtreeControl reads a cgroup v2 directory's {@code cgroup.subtree_control} or {@code cgroup.controllers},
     * empty if it cannot
     */
    public static Plan plan(String autogroup, String cgroups, String mountInfo, Function<Path, String> subtreeControl)
    {
        if (autogroup == null || !autogroup.trim().equals("1"))
            return Plan.notNeeded("the kernel's autogroup is off");
        for (String line : cgroups.split("\n"))
        {
            // hierarchy-id:controllers:path; cgroup v1 names its controllers, cgroup v2 has none ("0::/path").
            String[] parts = line.split(":", 3);
            if (parts.length != 3 || parts[1].isEmpty())
                continue;
            if (!Arrays.asList(parts[1].split(",")).contains("cpu"))
                continue;
            if (!parts[2].equals("/"))
                return Plan.notNeeded("the server is in the CPU cgroup " + parts[2] + " already");
            Optional<Path> mount = mountPoint(mountInfo, "cgroup", "cpu");
            return mount.map(path -> Plan.join(path, "cgroup v1"))
                .orElseGet(() -> Plan.impossible("the CPU cgroup hierarchy is not mounted"));
        }
        for (String line : cgroups.split("\n"))
        {
            if (!line.startsWith("0::"))
                continue;
            String path = line.substring(3);
            Optional<Path> mount = mountPoint(mountInfo, "cgroup2", null);
            if (mount.isEmpty())
                return Plan.impossible("the cgroup v2 hierarchy is not mounted");
            if (!path.equals("/"))
            {
                Path own = mount.get().resolve(path.substring(1));
                if (hasCpu(subtreeControl.apply(own.resolve("cgroup.controllers"))))
                    return Plan.notNeeded("the server is in the CPU cgroup " + path + " already");
                return Plan.impossible("the server's cgroup " + path + " has no CPU controller (systemd: set CPUWeight= in its unit)");
            }
            if (hasCpu(subtreeControl.apply(mount.get().resolve("cgroup.subtree_control"))))
                return Plan.join(mount.get(), "cgroup v2");
            return Plan.impossible("the root cgroup does not enable the CPU controller for its children");
        }
        return Plan.impossible("no CPU cgroup controller");
    }

    private static boolean hasCpu(String controllers)
    {
        return Arrays.asList(controllers.trim().split("\\s+")).contains("cpu");
    }

    /**
     * @param type {@code cgroup} or {@code cgroup2}
     * @param option a super option the mount must have ({@code cpu}), or null
     * @return the mount point of the first such mount in {@code /proc/self/mountinfo}
     */
    static Optional<Path> mountPoint(String mountInfo, String type, String option)
    {
        for (String line : mountInfo.split("\n"))
        {
            // id parent major:minor root mount-point options [optional fields...] - type source super-options
            int separator = line.indexOf(" - ");
            if (separator < 0)
                continue;
            String[] fields = line.substring(0, separator).split(" ");
            String[] tail = line.substring(separator + 3).split(" ");
            if (fields.length < 5 || tail.length < 3 || !tail[0].equals(type) || !fields[3].equals("/"))
                continue;
            if (option != null && !Arrays.asList(tail[2].split(",")).contains(option))
                continue;
            return Optional.of(Path.of(unescape(fields[4])));
        }
        return Optional.empty();
    }

    /**
     * mountinfo writes a space, tab, newline and backslash of a path as an octal escape.
     */
    private static String unescape(String field)
    {
        return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\");
    }

    /**
     * As root, at start: moves this process into a CPU group of its own when {@link #plan} says so, and logs what
     * was done or why not. Never fails the start: without the group, the server works, only slower.
     * @return the group this process is in now, if it made one
     */
    public static Optional<Path> join()
    {
        Plan plan = plan(read(AUTOGROUP_SETTING), read(Path.of("/proc/self/cgroup")), read(Path.of("/proc/self/mountinfo")), CpuGroup::read);
        if (plan.hierarchy() == null)
        {
            if (plan.needed())
                LOG.info("Workers are scheduled apart from the server (the kernel's autogroup makes each worker's session a CPU group): {}", plan.reason());
            else
                LOG.debug("No CPU group needed: {}", plan.reason());
            return Optional.empty();
        }
        long pid = ProcessHandle.current().pid();
        removeStale(plan.hierarchy(), pid);
        Path group = plan.hierarchy().resolve(PREFIX + pid);
        try
        {
            if (!Files.isDirectory(group, LinkOption.NOFOLLOW_LINKS))
                Files.createDirectory(group);
            // cgroup.procs moves every thread of the process; its children are born where it is.
            Files.writeString(group.resolve("cgroup.procs"), Long.toString(pid), StandardCharsets.US_ASCII);
            LOG.info("The server and its workers share the CPU group {} ({}): the kernel's autogroup would make each worker's session a group of its own",
                group, plan.reason());
            return Optional.of(group);
        }
        catch (IOException x)
        {
            // A container's read-only hierarchy, for one: its own cgroup already keeps the autogroup out.
            LOG.info("Workers may be scheduled apart from the server: cannot join the CPU group {}: {}", group, x.toString());
            try
            {
                Files.deleteIfExists(group);
            }
            catch (IOException ignored)
            {
                // A group with tasks cannot be removed, and an empty one left behind is removed at the next start.
            }
            return Optional.empty();
        }
    }

    /**
     * Removes the groups of fronts that are gone: a group with a task left, or with groups under it, is refused
     * by the kernel ({@code rmdir} fails with EBUSY) and stays.
     */
    private static void removeStale(Path hierarchy, long ownPid)
    {
        try (DirectoryStream<Path> groups = Files.newDirectoryStream(hierarchy, PREFIX + "*"))
        {
            for (Path group : groups)
            {
                String suffix = group.getFileName().toString().substring(PREFIX.length());
                if (!suffix.matches("[0-9]{1,10}") || Long.parseLong(suffix) == ownPid || ProcessHandle.of(Long.parseLong(suffix)).isPresent())
                    continue;
                try
                {
                    Files.delete(group);
                }
                catch (IOException x)
                {
                    LOG.debug("CPU group {} stays", group, x);
                }
            }
        }
        catch (IOException x)
        {
            LOG.debug("cannot list {}", hierarchy, x);
        }
    }

    /**
     * @return the file's lines, joined; empty if it cannot be read
     */
    private static String read(Path path)
    {
        try
        {
            // Line by line: Files.readString() on some procfs files returns their first byte only. ISO-8859-1 takes
            // any byte: a mount point that is not UTF-8 must not hide the others.
            List<String> lines = Files.readAllLines(path, StandardCharsets.ISO_8859_1);
            return String.join("\n", lines);
        }
        catch (IOException | RuntimeException x)
        {
            return "";
        }
    }
}
