package org.jettyitk.internal.posix;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * <p>Drops privileges for real, in a child JVM started as root ({@link PrivilegeDropProbe}): the
 * test JVM itself never changes its identity. Skipped unless the tests run as root.</p>
 * <p>The child starts as root and drops in-process rather than through {@code setpriv}, because
 * its classpath lives under {@code /root}, which the tenant cannot read.</p>
 */
public class PrivilegeDropTest
{
    private static final int UID = 41001;
    private static final int GID = 41001;
    private static final int EXTRA_GROUP = 41003;
    private static final long PROBE_TIMEOUT_SECONDS = 60;
    private static final AtomicInteger PROBES = new AtomicInteger();

    @TempDir
    static Path workDir;
    private static Path tenantDir;
    private static Path rootOnlyFile;
    private static boolean isRoot;
    private static Probe dropped;

    @BeforeAll
    public static void beforeAll() throws Exception
    {
        isRoot = Posix.get().geteuid() == 0;
        if (!isRoot)
            return;
        // The tenant must traverse workDir, write only in tenantDir, and not read rootOnlyFile.
        Files.setPosixFilePermissions(workDir, PosixFilePermissions.fromString("rwxr-xr-x"));
        tenantDir = Files.createDirectory(workDir.resolve("tenant"));
        Files.setAttribute(tenantDir, "unix:uid", UID);
        Files.setAttribute(tenantDir, "unix:gid", GID);
        rootOnlyFile = Files.writeString(workDir.resolve("root-only"), "secret");
        Files.setPosixFilePermissions(rootOnlyFile, PosixFilePermissions.fromString("rw-------"));
        dropped = probe("drop", UID);
    }

    @BeforeEach
    public void beforeEach()
    {
        assumeTrue(isRoot, "needs root: drops to numeric uids 41001..");
    }

    @Test
    public void testProbeSucceeds()
    {
        assertEquals(0, dropped.exitStatus(), dropped::toString);
    }

    @Test
    public void testUidLineShowsTenantFourTimes()
    {
        assertEquals("41001\t41001\t41001\t41001", dropped.value("self.Uid"));
    }

    @Test
    public void testGidLineShowsTenantFourTimes()
    {
        assertEquals("41001\t41001\t41001\t41001", dropped.value("self.Gid"));
    }

    @Test
    public void testGroupsAreExactlyTheConfiguredSet()
    {
        Set<String> groups = Set.of(dropped.value("self.Groups").split("\\s+"));

        assertEquals(Set.of("41001", "41003"), groups);
    }

    @Test
    public void testDropToCurrentIdentityIsNoop()
    {
        assertEquals("ok", dropped.value("again"));
    }

    @Test
    public void testEveryThreadIsReniced()
    {
        assertEquals(Integer.toString(PrivilegeDropProbe.NICE), dropped.value("nice"));
    }

    @Test
    public void testCreatedFileBelongsToTenant() throws Exception
    {
        Path created = Path.of(dropped.value("create"));

        assertEquals(UID, Files.getAttribute(created, "unix:uid"));
        assertEquals(GID, Files.getAttribute(created, "unix:gid"));
    }

    @Test
    public void testCreatedFileHonoursUmask() throws Exception
    {
        Path created = Path.of(dropped.value("create"));

        assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(created)));
    }

    @Test
    public void testRootOnlyFileIsUnreadable()
    {
        assertEquals("denied", dropped.value("read"));
    }

    @Test
    public void testRegainingRootFailsWithEperm()
    {
        assertEquals("setresuid(0,0,0) failed: EPERM (Operation not permitted)", dropped.value("regain"));
    }

    @Test
    public void testVerifyFailsWhenUidDiffers() throws Exception
    {
        Probe probe = probe("mismatch", UID);

        assertEquals(PrivilegeDrop.EXIT_VERIFY_FAILED, probe.exitStatus(), probe::toString);
        assertEquals("verify: getresuid is 41001 41001 41001, expected 41002 x3", probe.value("error"));
    }

    @Test
    public void testSecondDropFailsWithoutPrivilege() throws Exception
    {
        Probe probe = probe("redrop", UID);

        assertEquals(PrivilegeDrop.EXIT_DROP_FAILED, probe.exitStatus(), probe::toString);
        assertEquals("drop to Identity[user=41002,uid=41002,gid=41002,groups=[41002]]: setgroups(41002) failed: EPERM (Operation not permitted)",
            probe.value("error"));
    }

    private static Probe probe(String mode, int uid) throws IOException, InterruptedException
    {
        Path stderr = workDir.resolve("probe-" + PROBES.incrementAndGet() + ".err");
        List<String> command = new ArrayList<>(List.of(
            ProcessHandle.current().info().command().orElseThrow(),
            "-cp", System.getProperty("java.class.path"),
            PrivilegeDropProbe.class.getName(),
            mode, Integer.toString(uid), Integer.toString(GID), GID + "," + EXTRA_GROUP,
            tenantDir.toString(), rootOnlyFile.toString()));
        Process process = new ProcessBuilder(command)
            .redirectError(stderr.toFile())
            .start();
        // The probe writes a few lines only: they wait in the pipe until it exits.
        if (!process.waitFor(PROBE_TIMEOUT_SECONDS, TimeUnit.SECONDS))
        {
            process.destroyForcibly();
            throw new AssertionError("probe " + mode + " did not exit within " + PROBE_TIMEOUT_SECONDS + " s");
        }
        Map<String, String> values = new HashMap<>();
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8)))
        {
            reader.lines()
                .filter(line -> line.indexOf('=') > 0)
                .forEach(line -> values.put(line.substring(0, line.indexOf('=')), line.substring(line.indexOf('=') + 1)));
        }
        return new Probe(process.exitValue(), values, Files.readString(stderr));
    }

    /**
     * What a probe run reported.
     */
    private record Probe(int exitStatus, Map<String, String> values, String stderr)
    {
        String value(String key)
        {
            assertTrue(values.containsKey(key), () -> "no " + key + " in " + this);
            return values.get(key);
        }
    }
}
