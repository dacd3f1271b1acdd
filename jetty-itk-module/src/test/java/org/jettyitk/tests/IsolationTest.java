package org.jettyitk.tests;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import org.eclipse.jetty.client.ContentResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.jettyitk.tests.ItkTestServer.ALICE;
import static org.jettyitk.tests.ItkTestServer.BOB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>Tenant code runs as exactly its vhost's identity, and the kernel keeps tenants apart: checked from inside
 * the workers ({@code /proc/self/status}, file access, {@code setresuid}) and from the outside (file owners).</p>
 */
public class IsolationTest
{
    /** A supplementary group of alice only. */
    private static final int SHARED_GROUP = 41005;

    private static ItkTestServer front;
    private static Path bobSecret;
    private static Path rootSecret;
    private static Path aliceOwn;
    private static Path groupFile;
    private static Path aliceApp;

    @BeforeAll
    public static void start() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: workers run as numeric uids 41001, 41002 and files are chowned to them");
        front = new ItkTestServer();
        front.addTestApp("alice", ALICE, Integer.toString(ALICE), Integer.toString(SHARED_GROUP));
        front.addTestApp("bob", BOB);
        // The tenant directories are 0700 and the files 0600: bob's worker is stopped by both.
        bobSecret = secret(front.root.resolve("bob/secret.txt"), "bob's secret", BOB, BOB, "rw-------");
        aliceOwn = secret(front.root.resolve("alice/own.txt"), "alice's own", ALICE, ALICE, "rw-------");
        rootSecret = secret(front.root.resolve("root-secret.txt"), "root's secret", 0, 0, "rw-------");
        groupFile = secret(front.root.resolve("group.txt"), "group's file", 0, SHARED_GROUP, "rw-r-----");
        // A part of alice's app as a WAR is usually made: readable by all; her directory keeps it to her.
        aliceApp = secret(front.root.resolve("alice/app.txt"), "alice's app", ALICE, ALICE, "rw-r--r--");
        front.start();
    }

    @AfterAll
    public static void stop() throws Exception
    {
        if (front != null)
            front.close();
    }

    private static Path secret(Path path, String content, int uid, int gid, String mode) throws Exception
    {
        Files.writeString(path, content + "\n");
        Files.setAttribute(path, "unix:uid", uid);
        Files.setAttribute(path, "unix:gid", gid);
        Files.setPosixFilePermissions(path, PosixFilePermissions.fromString(mode));
        return path;
    }

    private static Map<String, String> whoami(String host) throws Exception
    {
        ContentResponse response = front.get(front.http1, host, "/whoami");
        assertEquals(200, response.getStatus(), response::getContentAsString);
        return ItkTestServer.lines(response.getContentAsString());
    }

    private static String read(String host, Path path) throws Exception
    {
        ContentResponse response = front.get(front.http1, host, "/read?path=" + URLEncoder.encode(path.toString(), StandardCharsets.UTF_8));
        assertEquals(200, response.getStatus(), response::getContentAsString);
        return response.getContentAsString().strip();
    }

    private static Set<Integer> groups(Map<String, String> whoami)
    {
        return Arrays.stream(whoami.get("Groups").split("\\s+")).filter(s -> !s.isEmpty()).map(Integer::valueOf).collect(Collectors.toSet());
    }

    @Test
    public void testUidIsExactlyTheConfiguredOne() throws Exception
    {
        // Real, effective, saved and filesystem uid.
        assertEquals(ALICE + "\t" + ALICE + "\t" + ALICE + "\t" + ALICE, whoami("alice.test").get("Uid"));
    }

    @Test
    public void testGidIsExactlyTheConfiguredOne() throws Exception
    {
        assertEquals(ALICE + "\t" + ALICE + "\t" + ALICE + "\t" + ALICE, whoami("alice.test").get("Gid"));
    }

    @Test
    public void testGroupsAreExactlyTheConfiguredOnes() throws Exception
    {
        Map<String, String> whoami = whoami("alice.test");
        assertEquals(Set.of(ALICE, SHARED_GROUP), groups(whoami), whoami::toString);
    }

    @Test
    public void testNoRootIdAnywhere() throws Exception
    {
        Map<String, String> whoami = whoami("alice.test");
        for (String key : new String[]{"Uid", "Gid", "Groups"})
        {
            for (String id : whoami.get(key).split("\\s+"))
            {
                assertFalse(id.equals("0"), () -> key + " has 0: " + whoami);
            }
        }
    }

    @Test
    public void testNoCapabilities() throws Exception
    {
        Map<String, String> whoami = whoami("alice.test");
        for (String set : new String[]{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"})
        {
            assertEquals("0000000000000000", whoami.get(set), () -> set + " in " + whoami);
        }
    }

    @Test
    public void testOtherTenantHasItsOwnIdentity() throws Exception
    {
        Map<String, String> whoami = whoami("bob.test");
        assertEquals(BOB + "\t" + BOB + "\t" + BOB + "\t" + BOB, whoami.get("Uid"));
        assertEquals(BOB + "\t" + BOB + "\t" + BOB + "\t" + BOB, whoami.get("Gid"));
        assertEquals(Set.of(BOB), groups(whoami), whoami::toString);
    }

    @Test
    public void testCreatedFileIsOwnedByTenant() throws Exception
    {
        ContentResponse response = front.get(front.http1, "alice.test", "/create");
        assertEquals(200, response.getStatus(), response::getContentAsString);
        Path created = Path.of(ItkTestServer.lines(response.getContentAsString()).get("path"));
        // Checked from the outside: the worker's own report could lie.
        assertEquals(ALICE, Files.getAttribute(created, "unix:uid"));
        assertEquals(ALICE, Files.getAttribute(created, "unix:gid"));
    }

    @Test
    public void testCannotReadOtherTenantsPrivateFile() throws Exception
    {
        // Controls: the owner reads it, and alice reads a private file of her own, so the denial is about the owner.
        assertEquals("read=bob's secret", read("bob.test", bobSecret));
        assertEquals("read=alice's own", read("alice.test", aliceOwn));
        assertEquals("denied=AccessDeniedException", read("alice.test", bobSecret));
    }

    /**
     * A tenant's app is read by its worker, as the tenant: in a 0700 tenant directory (the README's recipe) another
     * tenant cannot read it, even a file of mode 0644 (it could through the 0711 directory of the former recipe).
     */
    @Test
    public void testCannotReadOtherTenantsApp() throws Exception
    {
        assertEquals("read=alice's app", read("alice.test", aliceApp));
        assertEquals("denied=AccessDeniedException", read("bob.test", aliceApp));
    }

    @Test
    public void testCannotReadRootsPrivateFile() throws Exception
    {
        assertEquals("denied=AccessDeniedException", read("alice.test", rootSecret));
    }

    @Test
    public void testSupplementaryGroupGrantsAccess() throws Exception
    {
        // The configured supplementary groups are real: alice, in group 41005, reads a 0640 root:41005 file; bob does not.
        assertEquals("read=group's file", read("alice.test", groupFile));
        assertEquals("denied=AccessDeniedException", read("bob.test", groupFile));
    }

    @Test
    public void testCannotRegainRoot() throws Exception
    {
        ContentResponse response = front.get(front.http1, "alice.test", "/setuid");
        assertEquals(200, response.getStatus(), response::getContentAsString);
        Map<String, String> lines = ItkTestServer.lines(response.getContentAsString());
        assertTrue(lines.get("setuid").startsWith("failed"), response::getContentAsString);
        assertEquals(Integer.toString(ALICE), lines.get("uid"));
    }
}
