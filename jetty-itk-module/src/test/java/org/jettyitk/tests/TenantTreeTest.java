package org.jettyitk.tests;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.eclipse.jetty.client.ContentResponse;
import org.jettyitk.VirtualHost;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.awaitility.Awaitility.await;
import static org.jettyitk.tests.ItkTestServer.ALICE;
import static org.jettyitk.tests.ItkTestServer.BOB;
import static org.jettyitk.tests.ItkTestServer.lines;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>Root never acts in a tree a tenant can write, nor trusts a file a tenant can change: each test is a tenant's
 * attack, done by a process of the tenant ({@link Tenant}), on a victim directory root owns.</p>
 */
public class TenantTreeTest
{
    /** Files of the victim directory a tenant tries to have root delete. */
    private static final int VICTIM_FILES = 2000;
    /** Directories of the tenant, each holding files named as the victim's, that the tenant swaps for a link. */
    private static final int SWAPPED_DIRECTORIES = 10;
    /** The file of the tenant whose deletion tells its process that the deleter has listed the tree: it sorts last. */
    private static final String SENTINEL = "zz-sentinel";

    private ItkTestServer front;
    private Path victim;
    private Process tenantProcess;
    private Path leftWorkDirectory;

    @BeforeEach
    public void init() throws IOException
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: tenants are uids 41001 and 41002 and files are chowned to them");
        victim = Files.createTempDirectory("itk-victim-");
        Files.setPosixFilePermissions(victim, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @AfterEach
    public void dispose() throws Exception
    {
        try
        {
            if (tenantProcess != null)
            {
                tenantProcess.destroyForcibly();
                tenantProcess.waitFor(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
            }
            if (front != null)
                front.close();
        }
        finally
        {
            // The tenant's processes are gone: nothing changes these trees any more.
            delete(victim);
            if (leftWorkDirectory != null)
                delete(leftWorkDirectory);
        }
    }

    private static void delete(Path root) throws IOException
    {
        if (root == null || !Files.exists(root, LinkOption.NOFOLLOW_LINKS))
            return;
        try (Stream<Path> tree = Files.walk(root))
        {
            for (Path path : tree.sorted(Comparator.reverseOrder()).toList())
            {
                Files.deleteIfExists(path);
            }
        }
    }

    private Map<String, String> env(VirtualHost vhost) throws Exception
    {
        ContentResponse response = front.get(front.http1, vhost.getHostNames().get(0), "/env");
        assertEquals(200, response.getStatus(), response::getContentAsString);
        return lines(response.getContentAsString());
    }

    private static int uid(Path path) throws IOException
    {
        return (Integer)Files.getAttribute(path, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    }

    private static String mode(Path path) throws IOException
    {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(path, LinkOption.NOFOLLOW_LINKS));
    }

    /**
     * The tenant replaces {@code HOME/tmp} by a link to a directory of root; when its vhost is prepared again (an
     * edit of its file, a re-add, a restart on a kept work directory), root used to create, chmod and chown
     * {@code HOME/tmp}, following the link: the directory became the tenant's.
     */
    @Test
    public void testTemporaryDirectoryLinkHandsOverNothing() throws Exception
    {
        front = new ItkTestServer();
        VirtualHost alice = front.addTestApp("alice", ALICE);
        front.start();
        String home = env(alice).get("env HOME");

        Tenant.Result link = Tenant.run(ALICE, "rm -rf '" + home + "/tmp' && ln -s '" + victim + "' '" + home + "/tmp'");
        assertEquals(0, link.status(), link.output());
        front.itk.removeVirtualHost(alice);
        front.itk.addVirtualHost(alice);

        assertEquals(0, uid(victim));
        assertEquals("rwxr-xr-x", mode(victim));
    }

    /**
     * The worker, not root, creates {@code HOME/tmp}, as the tenant.
     */
    @Test
    public void testWorkerCreatesItsTemporaryDirectory() throws Exception
    {
        front = new ItkTestServer();
        VirtualHost alice = front.addTestApp("alice", ALICE);
        front.start();

        ContentResponse created = front.get(front.http1, alice.getHostNames().get(0), "/create");

        assertEquals(200, created.getStatus(), created::getContentAsString);
        Map<String, String> lines = lines(created.getContentAsString());
        Path tmp = Path.of(env(alice).get("env TMPDIR"));
        assertTrue(lines.get("path").startsWith(tmp + "/"), lines::toString);
        assertEquals(ALICE, uid(tmp));
        assertEquals("rwx------", mode(tmp));
    }

    /**
     * While the front stops, a process of the tenant waits for the deletion of its {@code HOME} to begin, then swaps
     * its directories for links to root's directory. Root used to list the tree, then delete by path (the last
     * name first): it deleted root's files through the links.
     */
    @Test
    public void testStopDeletesNothingThroughSwappedDirectory() throws Exception
    {
        front = new ItkTestServer();
        VirtualHost alice = front.addTestApp("alice", ALICE);
        front.start();
        Path home = Path.of(env(alice).get("env HOME"));
        leftWorkDirectory = home.getParent();
        for (int i = 0; i < VICTIM_FILES; i++)
        {
            Files.writeString(victim.resolve("f" + i), "root's\n");
        }
        Tenant.Result files = Tenant.run(ALICE, "cd '" + home + "' && k=0; while [ $k -lt " + SWAPPED_DIRECTORIES + " ]; do mkdir d$k; i=0; " +
            "while [ $i -lt " + VICTIM_FILES + " ]; do : > d$k/f$i; i=$((i+1)); done; k=$((k+1)); done");
        assertEquals(0, files.status(), files.output());
        Tenant.Result sentinel = Tenant.run(ALICE, ": > '" + home + "/" + SENTINEL + "'");
        assertEquals(0, sentinel.status(), sentinel.output());
        String java = ProcessHandle.current().info().command().orElseThrow();
        String classes = Path.of(SwapWhenDeleted.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        tenantProcess = Tenant.start(ALICE, "exec '" + java + "' -cp '" + classes + "' " + SwapWhenDeleted.class.getName() + " '" + home + "' " + SENTINEL + " '" + victim + "' " + SWAPPED_DIRECTORIES);
        BufferedReader tenantOutput = new BufferedReader(new InputStreamReader(tenantProcess.getInputStream(), StandardCharsets.UTF_8));
        assertEquals("watching", tenantOutput.readLine(), "the tenant's process did not start");

        front.server.stop();

        // The tenant's process saw its tree being deleted and put its links in.
        assertFalse(Files.exists(home.resolve(SENTINEL)), "the tenant's tree was not deleted");
        assertEquals("swapped", tenantOutput.readLine());
        try (Stream<Path> left = Files.list(victim))
        {
            assertEquals(VICTIM_FILES, left.count(), "root's files deleted through the tenant's link");
        }
    }

    /**
     * Two vhost names that used to map to one directory name ({@code a b}, {@code a_b}) get a {@code HOME} each.
     */
    @Test
    public void testSimilarNamesGetTheirOwnHome() throws Exception
    {
        front = new ItkTestServer();
        VirtualHost space = vhost("a b", "a-space", ALICE);
        VirtualHost underscore = vhost("a_b", "a-underscore", BOB);
        front.start();

        String spaceHome = env(space).get("env HOME");
        String underscoreHome = env(underscore).get("env HOME");

        assertNotEquals(spaceHome, underscoreHome);
        assertEquals(ALICE, uid(Path.of(spaceHome)));
        assertEquals(BOB, uid(Path.of(underscoreHome)));
    }

    /**
     * A vhost whose user changes does not hand its {@code HOME}, with the former user's files, to the new one.
     */
    @Test
    public void testHomeOfAnotherUserIsRefused() throws Exception
    {
        front = new ItkTestServer();
        VirtualHost alice = front.addTestApp("shared", ALICE);
        front.start();
        String home = env(alice).get("env HOME");
        front.itk.removeVirtualHost(alice);
        VirtualHost bob = newVirtualHost("shared", "shared-bob", BOB);

        IllegalStateException failure = assertThrows(IllegalStateException.class, () -> front.itk.addVirtualHost(bob));

        assertTrue(failure.getMessage().contains("vhost 'shared': cannot prepare its directory: " + home + " belongs to uid " + ALICE + ", not to the vhost's uid " + BOB), failure.getMessage());
        assertEquals(ALICE, uid(Path.of(home)));
    }

    private VirtualHost vhost(String name, String directory, int id) throws IOException
    {
        return front.add(newVirtualHost(name, directory, id));
    }

    private VirtualHost newVirtualHost(String name, String directory, int id) throws IOException
    {
        VirtualHost vhost = new VirtualHost(name);
        vhost.setHostNames(directory + ".test");
        vhost.setUser(Integer.toString(id));
        vhost.setGroup(Integer.toString(id));
        vhost.setApp(front.tenantDirectory(directory, id).toString());
        vhost.setHandlerClass(TestApp.class.getName());
        return vhost;
    }

    /**
     * The log's path crosses a directory of the tenant, where the tenant put a link to root's directory: root used
     * to check only the link's target and created the log there.
     */
    @Test
    public void testLogThroughTenantDirectoryIsRefused() throws Exception
    {
        front = new ItkTestServer();
        front.addTestApp("alice", ALICE);
        front.start();
        Path area = front.tenantDirectory("area", ALICE);
        Files.setPosixFilePermissions(area, PosixFilePermissions.fromString("rwxr-xr-x"));
        Tenant.Result link = Tenant.run(ALICE, "ln -s '" + victim + "' '" + area + "/logs'");
        assertEquals(0, link.status(), link.output());
        VirtualHost logged = newVirtualHost("logged", "logged", ALICE);
        logged.setLogFile(area.resolve("logs/logged.log").toString());

        IllegalStateException failure = assertThrows(IllegalStateException.class, () -> front.itk.addVirtualHost(logged));

        assertTrue(failure.getMessage().contains("log directory " + area.resolve("logs") + " refused: " + area + " is owned by uid " + ALICE + ", not by root"), failure.getMessage());
        assertFalse(Files.exists(victim.resolve("logged.log")));
    }

    /**
     * A vhost's log holds what its workers print: its tenant may read it, another tenant may not.
     */
    @Test
    public void testLogIsReadableByItsTenantOnly() throws Exception
    {
        front = new ItkTestServer();
        VirtualHost alice = front.addTestApp("alice", ALICE);
        Path log = front.root.resolve("logs/alice.log");
        alice.setLogFile(log.toString());
        front.start();

        ContentResponse printed = front.get(front.http1, alice.getHostNames().get(0), "/log?lines=1&text=alice-secret");
        assertEquals(200, printed.getStatus(), printed::getContentAsString);
        await().atMost(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> Files.readString(log).contains("alice-secret 0"));

        assertEquals("rw-r-----", mode(log));
        assertEquals(0, uid(log));
        assertEquals(ALICE, (Integer)Files.getAttribute(log, "unix:gid"));
        Tenant.Result bob = Tenant.run(BOB, "cat '" + log + "'");
        assertNotEquals(0, bob.status(), bob.output());
        assertFalse(bob.output().contains("alice-secret"), bob.output());
        Tenant.Result own = Tenant.run(ALICE, "cat '" + log + "'");
        assertEquals(0, own.status(), own.output());
        assertTrue(own.output().contains("alice-secret 0"), own.output());
    }

    /**
     * The java binary is a tenant's file: root runs it (the class-data training, and workers without setpriv).
     */
    @Test
    public void testJavaCommandOfTenantIsRefused() throws Exception
    {
        front = new ItkTestServer();
        Path tenant = front.tenantDirectory("tools", ALICE);
        Path marker = front.root.resolve("java-ran-as");
        Path java = tenant.resolve("java");
        Files.writeString(java, "#!/bin/sh\nid -u >> '" + marker + "'\nexec '" + ProcessHandle.current().info().command().orElseThrow() + "' \"$@\"\n");
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
        ItkTestServer.chown(java, ALICE);
        front.itk.setJavaCommand(java.toString());
        front.itk.setWorkerClassArchive(true);
        front.addTestApp("alice", ALICE);

        Exception failure = assertThrows(Exception.class, front::start);

        assertTrue(failure.getMessage().contains("javaCommand " + java + " refused: " + tenant + " is owned by uid " + ALICE + ", not by root"), failure.getMessage());
        assertFalse(Files.exists(marker), "the tenant's java ran");
    }
}
