package org.jettyitk.internal.launch;

import java.nio.file.Path;
import java.util.Map;
import java.util.function.Function;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link CpuGroup#plan}: the decision from the kernel's own descriptions, for cgroup v1, v2 and both, as Linux
 * writes them ({@code /proc/self/cgroup}, {@code /proc/self/mountinfo}).
 */
public class CpuGroupTest
{
    private static final String V1_MOUNTS = """
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw""";
    private static final String V2_MOUNTS = """
        22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
        27 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate""";

    private static Function<Path, String> files(Map<String, String> contents)
    {
        return path -> contents.getOrDefault(path.toString(), "");
    }

    @Test
    public void testV1RootJoinsAtTheCpuMount()
    {
        CpuGroup.Plan plan = CpuGroup.plan("1", "4:memory:/\n3:cpu,cpuacct:/\n0::/\n", V1_MOUNTS, files(Map.of()));
        assertEquals(Path.of("/sys/fs/cgroup/cpu,cpuacct"), plan.hierarchy(), plan.reason());
        assertTrue(plan.needed());
    }

    @Test
    public void testV1CgroupOfItsOwnStays()
    {
        CpuGroup.Plan plan = CpuGroup.plan("1", "3:cpu,cpuacct:/system.slice/jetty.service\n0::/system.slice/jetty.service\n", V1_MOUNTS, files(Map.of()));
        assertNull(plan.hierarchy());
        assertFalse(plan.needed(), plan.reason());
    }

    @Test
    public void testAutogroupOffNeedsNothing()
    {
        assertFalse(CpuGroup.plan("0", "3:cpu,cpuacct:/\n", V1_MOUNTS, files(Map.of())).needed());
        assertFalse(CpuGroup.plan(null, "3:cpu,cpuacct:/\n", V1_MOUNTS, files(Map.of())).needed());
    }

    @Test
    public void testV1WithoutCpuMountCannot()
    {
        CpuGroup.Plan plan = CpuGroup.plan("1", "3:cpu:/\n", "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory", files(Map.of()));
        assertNull(plan.hierarchy());
        assertTrue(plan.needed());
    }

    @Test
    public void testV2RootJoinsWhenTheRootEnablesCpu()
    {
        CpuGroup.Plan plan = CpuGroup.plan("1", "0::/\n", V2_MOUNTS, files(Map.of("/sys/fs/cgroup/cgroup.subtree_control", "cpuset cpu io memory pids\n")));
        assertEquals(Path.of("/sys/fs/cgroup"), plan.hierarchy(), plan.reason());
    }

    @Test
    public void testV2RootWithoutCpuCannot()
    {
        CpuGroup.Plan plan = CpuGroup.plan("1", "0::/\n", V2_MOUNTS, files(Map.of("/sys/fs/cgroup/cgroup.subtree_control", "cpuset io memory pids\n")));
        assertNull(plan.hierarchy());
        assertTrue(plan.needed(), plan.reason());
    }

    @Test
    public void testV2ServiceWithCpuStaysAndWithoutGetsAdvice()
    {
        String cgroups = "0::/system.slice/jetty.service\n";
        Path controllers = Path.of("/sys/fs/cgroup/system.slice/jetty.service/cgroup.controllers");
        CpuGroup.Plan with = CpuGroup.plan("1", cgroups, V2_MOUNTS, files(Map.of(controllers.toString(), "cpu io memory pids")));
        assertNull(with.hierarchy());
        assertFalse(with.needed(), with.reason());
        CpuGroup.Plan without = CpuGroup.plan("1", cgroups, V2_MOUNTS, files(Map.of(controllers.toString(), "io memory pids")));
        assertNull(without.hierarchy());
        assertTrue(without.needed());
        assertTrue(without.reason().contains("CPUWeight"), without.reason());
    }

    @Test
    public void testMountPointsWithOptionalFieldsAndEscapes()
    {
        String mounts = "40 31 0:38 / /sys/fs/cgroup/cpu\\040x rw,relatime shared:5 master:1 - cgroup cgroup rw,cpu\n";
        assertEquals(Path.of("/sys/fs/cgroup/cpu x"), CpuGroup.mountPoint(mounts, "cgroup", "cpu").orElseThrow());
        // A bind mount of a subtree (root other than /) is no hierarchy's root.
        assertTrue(CpuGroup.mountPoint("40 31 0:38 /sub /mnt rw - cgroup cgroup rw,cpu\n", "cgroup", "cpu").isEmpty());
        assertTrue(CpuGroup.mountPoint("garbage\n\n- - -\n", "cgroup", "cpu").isEmpty());
    }
}
