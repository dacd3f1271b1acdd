package org.jettyitk.tests;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import org.jettyitk.internal.launch.CpuGroup;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>A worker leads a session of its own, and where the kernel's autogroup is on, a session in the root of the
 * CPU controller's hierarchy is a scheduling group of its own: the front and each worker would be scheduled as
 * groups, with a preemption at every wake-up between them. The front, started as root, takes itself and its
 * workers out of that root: a worker is in the front's own CPU cgroup, whatever session it leads.</p>
 */
public class CpuGroupSharingTest
{
    @Test
    public void testWorkerSharesTheFrontsCpuGroup() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: the front makes a CPU cgroup, the worker runs as numeric uid 41001");
        Assumptions.assumeTrue(Files.readAllLines(Path.of("/proc/sys/kernel/sched_autogroup_enabled")).equals(List.of("1")),
            "the kernel's autogroup is off: a worker's session is no scheduling group of its own");
        try (ItkTestServer front = new ItkTestServer())
        {
            front.addTestApp("alice", ItkTestServer.ALICE);
            front.start();
            assertEquals(200, front.get(front.http1, "alice.test", "/whoami").getStatus());
            ProcessHandle worker = front.workers().findFirst().orElseThrow();

            Optional<String> frontGroup = cpuGroup(ProcessHandle.current().pid());
            Assumptions.assumeTrue(frontGroup.isPresent(), "no CPU cgroup controller on this machine");
            assertNotEquals("/", frontGroup.get(), "the front stayed in the root of the CPU hierarchy, where each worker's session is a group of its own");
            assertEquals(frontGroup, cpuGroup(worker.pid()), "the worker is not in the front's CPU group");
            // In the group the front made, or one it found itself in: either keeps the autogroup out.
            assertTrue(frontGroup.get().endsWith("/" + CpuGroup.PREFIX + ProcessHandle.current().pid()) || !frontGroup.get().contains(CpuGroup.PREFIX),
                frontGroup.get());
            // Still a session of its own: no terminal of the front's reaches it.
            assertNotEquals(session(ProcessHandle.current().pid()), session(worker.pid()));
            assertEquals(Long.toString(worker.pid()), session(worker.pid()));
        }
    }

    /**
     * @return the CPU controller's cgroup of a process ({@code cgroup v1 cpu} line, else cgroup v2's)
     */
    private static Optional<String> cpuGroup(long pid) throws Exception
    {
        List<String> lines = Files.readAllLines(Path.of("/proc", Long.toString(pid), "cgroup"), StandardCharsets.UTF_8);
        for (String line : lines)
        {
            String[] parts = line.split(":", 3);
            if (parts.length == 3 && List.of(parts[1].split(",")).contains("cpu"))
                return Optional.of(parts[2]);
        }
        for (String line : lines)
        {
            if (line.startsWith("0::"))
                return Optional.of(line.substring(3));
        }
        return Optional.empty();
    }

    private static String session(long pid) throws Exception
    {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.UTF_8);
        // pid (comm) state ppid pgrp session: fields counted after the command's last ')'.
        return stat.substring(stat.lastIndexOf(')') + 2).split(" ")[3];
    }
}
