package org.jettyitk;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpTester;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.LocalConnector;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.component.LifeCycle;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.eclipse.jetty.util.thread.ScheduledExecutorScheduler;
import org.jettyitk.internal.front.FakeWorkerLauncher;
import org.jettyitk.internal.front.FakeWorkerProcess;
import org.jettyitk.internal.front.InJvmWorker;
import org.jettyitk.tests.ItkTestServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>{@link VirtualHostDirectory} against a real {@link ItkHandler} whose workers are in-JVM Jetty servers
 * ({@link InJvmWorker}): each answers {@code /hello} with its vhost's name. The directory is scanned on demand
 * ({@link VirtualHostDirectory#scan()}, no periodic scan), so the tests do not wait for a timer.</p>
 */
public class VirtualHostDirectoryTest
{
    private static final int ALICE = 41001;
    private static final int BOB = 41002;
    private static final String ATTACK_PROPERTY = "itk.test.tenant-xml-ran";
    private static QueuedThreadPool workerThreads;
    private static ScheduledExecutorScheduler workerScheduler;

    private Path root;
    private Path dir;
    private FakeWorkerLauncher launcher;
    private Server server;
    private LocalConnector connector;
    private ItkHandler itk;
    private VirtualHostDirectory directory;

    @BeforeAll
    public static void startWorkerThreads() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "ItkHandler chowns each vhost's work directory to its uid: needs root");
        workerThreads = new QueuedThreadPool(50);
        workerThreads.setName("itk-dir-test-worker");
        workerThreads.start();
        workerScheduler = new ScheduledExecutorScheduler("itk-dir-test-worker-scheduler", true);
        workerScheduler.start();
    }

    @AfterAll
    public static void stopWorkerThreads()
    {
        LifeCycle.stop(workerScheduler);
        LifeCycle.stop(workerThreads);
    }

    @BeforeEach
    public void init() throws Exception
    {
        root = Files.createTempDirectory("itk-dir-test-");
        dir = Files.createDirectory(root.resolve("itk"));
        launcher = new FakeWorkerLauncher();
        for (String name : List.of("alice", "bob", "carol", "renamed"))
        {
            launcher.serve(name, () -> new InJvmWorker(workerThreads, workerScheduler, () -> new HelloHandler(name), out -> out));
        }
        server = new Server();
        connector = new LocalConnector(server);
        server.addConnector(connector);
        itk = new ItkHandler();
        itk.setWorkerLauncher(launcher);
        server.setHandler(itk);
        directory = new VirtualHostDirectory(itk, dir);
        directory.setScanIntervalSeconds(0);
        directory.setProperty("jetty.base", root.toString());
        itk.addBean(directory);
    }

    @AfterEach
    public void dispose() throws Exception
    {
        LifeCycle.stop(server);
        launcher.killAll();
        await().atMost(10, SECONDS).until(() -> launcher.launched().stream().noneMatch(FakeWorkerProcess::isAlive));
        try (Stream<Path> tree = Files.walk(root))
        {
            for (Path path : tree.sorted(Comparator.reverseOrder()).toList())
            {
                Files.deleteIfExists(path);
            }
        }
    }

    private static String vhostXml(String body)
    {
        return """
            <?xml version="1.0"?>
            <!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "https://jetty.org/configure_10_0.dtd">
            <Configure class="org.jettyitk.VirtualHost">
            %s
            </Configure>
            """.formatted(body.indent(2));
    }

    private static String vhostXml(String host, int id)
    {
        return vhostXml("""
            <Call name="addHostName"><Arg>%s</Arg></Call>
            <Set name="user">%d</Set>
            <Set name="group">%d</Set>
            <Set name="app"><Property name="jetty.base"/>/apps/%s</Set>
            """.formatted(host, id, id, host));
    }

    /**
     * Writes a vhost file and moves its date on, so that the scanner sees a change even within one millisecond.
     */
    private Path write(String fileName, String content) throws Exception
    {
        Path file = dir.resolve(fileName);
        FileTime before = Files.exists(file) ? Files.getLastModifiedTime(file) : null;
        Files.writeString(file, content, StandardCharsets.UTF_8);
        if (before != null)
            Files.setLastModifiedTime(file, FileTime.fromMillis(before.toMillis() + 2000));
        return file.toRealPath();
    }

    private HttpTester.Response get(String host) throws Exception
    {
        String request = "GET /hello HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
        return HttpTester.parseResponse(connector.getResponse(request, 30, SECONDS));
    }

    private void assertServed(String host, String vhost) throws Exception
    {
        HttpTester.Response response = get(host);
        assertEquals(200, response.getStatus(), host + ": " + response.getContent());
        assertEquals("hello from " + vhost, response.getContent());
    }

    private void assertNotServed(String host) throws Exception
    {
        assertEquals(404, get(host).getStatus(), host);
    }

    private List<String> names()
    {
        return itk.getVirtualHosts().stream().map(VirtualHost::getName).sorted().toList();
    }

    @Test
    public void testFilesPresentAtStartAreServed() throws Exception
    {
        write("alice.xml", vhostXml("alice.test", ALICE));
        write("bob.xml", vhostXml("bob.test", BOB));
        write("notes.txt", "not a vhost");
        write(".hidden.xml", vhostXml("hidden.test", BOB));

        server.start();

        assertEquals(List.of("alice", "bob"), names());
        assertServed("alice.test", "alice");
        assertServed("bob.test", "bob");
        VirtualHost alice = directory.getVirtualHosts().get(dir.resolve("alice.xml").toRealPath());
        assertEquals(root + "/apps/alice.test", alice.getApp(), "a vhost file reads the directory's properties");
        assertEquals(Map.of(), directory.getFailures());
    }

    @Test
    public void testAddedFileAddsVirtualHost() throws Exception
    {
        write("alice.xml", vhostXml("alice.test", ALICE));
        server.start();
        assertNotServed("bob.test");

        write("bob.xml", vhostXml("bob.test", BOB));
        directory.scan();

        assertEquals(List.of("alice", "bob"), names());
        assertServed("bob.test", "bob");
        assertServed("alice.test", "alice");
    }

    @Test
    public void testChangedFileReplacesVirtualHost() throws Exception
    {
        write("alice.xml", vhostXml("alice.test", ALICE));
        server.start();
        assertServed("alice.test", "alice");
        VirtualHost old = itk.getVirtualHosts().get(0);

        write("alice.xml", vhostXml("www.alice.test", ALICE));
        directory.scan();

        VirtualHost replacement = itk.getVirtualHosts().get(0);
        assertEquals(List.of("www.alice.test"), replacement.getHostNames());
        assertFalse(old == replacement, "the handler has the new definition");
        assertServed("www.alice.test", "alice");
        assertNotServed("alice.test");
    }

    @Test
    public void testRemovedFileRemovesVirtualHost() throws Exception
    {
        write("alice.xml", vhostXml("alice.test", ALICE));
        Path bob = write("bob.xml", vhostXml("bob.test", BOB));
        server.start();
        assertServed("bob.test", "bob");

        Files.delete(bob);
        directory.scan();

        assertEquals(List.of("alice"), names());
        assertNotServed("bob.test");
        assertServed("alice.test", "alice");
    }

    @Test
    public void testMalformedFileKeepsPreviousDefinition() throws Exception
    {
        Path alice = write("alice.xml", vhostXml("alice.test", ALICE));
        server.start();
        VirtualHost old = itk.getVirtualHosts().get(0);

        write("alice.xml", vhostXml("<Set name=\"user\">41001</Set>\n<Set name=\"app\">/srv</Oops>"));
        directory.scan();

        assertSame(old, itk.getVirtualHosts().get(0));
        assertServed("alice.test", "alice");
        String failure = directory.getFailures().get(alice);
        assertNotNull(failure);
        assertTrue(failure.startsWith("line 5, column "), failure);

        // Mending the file applies it.
        write("alice.xml", vhostXml("mended.alice.test", ALICE));
        directory.scan();
        assertServed("mended.alice.test", "alice");
        assertEquals(Map.of(), directory.getFailures());
    }

    @Test
    public void testUnknownSetterKeepsPreviousDefinition() throws Exception
    {
        Path alice = write("alice.xml", vhostXml("alice.test", ALICE));
        server.start();
        VirtualHost old = itk.getVirtualHosts().get(0);

        write("alice.xml", vhostXml("alice.test", ALICE).replace("<Set name=\"group\">", "<Set name=\"grupe\">"));
        directory.scan();

        assertSame(old, itk.getVirtualHosts().get(0));
        assertServed("alice.test", "alice");
        assertTrue(directory.getFailures().get(alice).contains("setGrupe"), directory.getFailures().toString());
    }

    @Test
    public void testRefusedDefinitionKeepsPreviousDefinition() throws Exception
    {
        Path alice = write("alice.xml", vhostXml("alice.test", ALICE));
        write("bob.xml", vhostXml("bob.test", BOB));
        server.start();
        VirtualHost old = directory.getVirtualHosts().get(alice);

        // uid 0 is never a tenant; a host name another vhost serves is refused too.
        write("alice.xml", vhostXml("alice.test", 0));
        directory.scan();
        assertSame(old, directory.getVirtualHosts().get(alice));
        assertServed("alice.test", "alice");
        assertTrue(directory.getFailures().get(alice).startsWith("vhost 'alice': "), directory.getFailures().toString());

        write("alice.xml", vhostXml("bob.test", ALICE));
        directory.scan();
        assertTrue(directory.getFailures().get(alice).contains("duplicate host name 'bob.test'"), directory.getFailures().toString());
        assertServed("alice.test", "alice");
        assertServed("bob.test", "bob");
    }

    @Test
    public void testBrokenFileAtStartIsSkipped() throws Exception
    {
        write("alice.xml", vhostXml("alice.test", ALICE));
        Path bob = write("bob.xml", vhostXml("bob.test", 0));

        server.start();

        assertEquals(List.of("alice"), names());
        assertServed("alice.test", "alice");
        assertTrue(directory.getFailures().containsKey(bob), directory.getFailures().toString());
    }

    @Test
    public void testNameFromFileUnlessSet() throws Exception
    {
        write("carol.xml", vhostXml("carol.test", ALICE));
        write("other.xml", vhostXml("<Set name=\"name\">renamed</Set>\n" + """
            <Call name="addHostName"><Arg>renamed.test</Arg></Call>
            <Set name="user">41002</Set>
            <Set name="group">41002</Set>
            <Set name="app">/srv/renamed</Set>
            """));
        server.start();

        assertEquals(List.of("carol", "renamed"), names());
        assertServed("carol.test", "carol");
        assertServed("renamed.test", "renamed");
    }

    @Test
    public void testEverySettingFromXml() throws Exception
    {
        // The forms the README shows for each setting of a vhost file.
        write("alice.xml", vhostXml("""
            <Set name="name">alice</Set>
            <Call name="setHostNames"><Arg><Array type="String"><Item>alice.test</Item><Item>*.alice.test</Item></Array></Arg></Call>
            <Call name="addHostName"><Arg>alice.example</Arg></Call>
            <Set name="user">41001</Set>
            <Set name="group">41001</Set>
            <Set name="groupList">41005, 41006</Set>
            <Set name="app"><Property name="jetty.base"/>/tenants/alice/www</Set>
            <Set name="umask"><Call class="java.lang.Integer" name="parseInt"><Arg>077</Arg><Arg type="int">8</Arg></Call></Set>
            <Set name="maxWorkers">2</Set>
            <Set name="maxRequests">100</Set>
            <Set name="idleTimeoutMillis">60000</Set>
            <Set name="maxRequestsPerWorker">10000</Set>
            <Set name="maxWorkerAgeMillis">3600000</Set>
            <Set name="requestTimeoutMillis">30000</Set>
            <Set name="jvmOptions">-Xmx128m -XX:+UseSerialGC</Set>
            <Set name="nice">5</Set>
            <Set name="maxOpenFiles">1024</Set>
            <Set name="maxProcesses">200</Set>
            <Set name="maxAddressSpace">4294967296</Set>
            <Set name="maxCoreSize">0</Set>
            <Call name="addEnvironment"><Arg>TZ</Arg><Arg>UTC</Arg></Call>
            <Set name="logFile"><Property name="jetty.base"/>/alice.log</Set>
            <Set name="maxLogSize">1048576</Set>
            <Set name="sessionStore">memory</Set>
            """));
        server.start();

        VirtualHost alice = directory.getVirtualHosts().get(dir.resolve("alice.xml").toRealPath());
        assertNotNull(alice, directory.getFailures().toString());
        assertEquals(List.of("alice.test", "*.alice.test", "alice.example"), alice.getHostNames());
        assertEquals(List.of("41005", "41006"), alice.getGroups());
        assertEquals(root + "/tenants/alice/www", alice.getApp());
        assertEquals(077, alice.getUmask());
        assertEquals(2, alice.getMaxWorkers());
        assertEquals(100, alice.getMaxRequests());
        assertEquals(60000, alice.getIdleTimeoutMillis());
        assertEquals(10000, alice.getMaxRequestsPerWorker());
        assertEquals(3600000, alice.getMaxWorkerAgeMillis());
        assertEquals(30000, alice.getRequestTimeoutMillis());
        assertEquals("-Xmx128m -XX:+UseSerialGC", alice.getJvmOptions());
        assertEquals(5, alice.getNice());
        assertEquals(1024, alice.getMaxOpenFiles());
        assertEquals(200, alice.getMaxProcesses());
        assertEquals(4294967296L, alice.getMaxAddressSpace());
        assertEquals(0, alice.getMaxCoreSize());
        assertEquals(Map.of("TZ", "UTC"), alice.getEnvironment());
        assertEquals(root + "/alice.log", alice.getLogFile());
        assertEquals(1048576, alice.getMaxLogSize());
        assertEquals("memory", alice.getSessionStore());
        assertServed("www.alice.test", "alice");
    }

    @Test
    public void testDefaultVirtualHostFromFile() throws Exception
    {
        write("alice.xml", vhostXml("alice.test", ALICE));
        directory.setDefaultVirtualHost("alice");
        server.start();

        assertServed("unknown.test", "alice");
    }

    @Test
    public void testStopRemovesVirtualHostsAndRestartAddsThemAgain() throws Exception
    {
        write("alice.xml", vhostXml("alice.test", ALICE));
        directory.setDefaultVirtualHost("alice");
        server.start();
        assertEquals(List.of("alice"), names());

        server.stop();
        assertEquals(List.of(), names());
        assertNull(itk.getDefaultVirtualHost(), "the handler would refuse to start with a default vhost it does not have");
        write("bob.xml", vhostXml("bob.test", BOB));
        server.start();

        assertEquals(List.of("alice", "bob"), names());
        assertServed("alice.test", "alice");
        assertServed("bob.test", "bob");
        assertServed("unknown.test", "alice");
    }

    /**
     * The tenant owns a file holding Jetty XML that runs code; a vhost file that is a link to it must not be read
     * by root (it was: the tenant's {@code <Call>} ran in the front, as root).
     */
    @Test
    public void testLinkToTenantFileIsRefused() throws Exception
    {
        Path tenant = Files.createDirectory(root.resolve("tenant"));
        Files.setPosixFilePermissions(tenant, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path evil = tenant.resolve("evil.xml");
        Files.writeString(evil, vhostXml("""
            <Call class="java.lang.System" name="setProperty"><Arg>%s</Arg><Arg>ran as root</Arg></Call>
            <Call name="addHostName"><Arg>alice.test</Arg></Call>
            <Set name="user">%d</Set>
            <Set name="group">%d</Set>
            <Set name="app">/nowhere</Set>
            """.formatted(ATTACK_PROPERTY, ALICE, ALICE)));
        ItkTestServer.chown(tenant, ALICE);
        ItkTestServer.chown(evil, ALICE);
        Files.createSymbolicLink(dir.resolve("alice.xml"), evil);

        server.start();

        assertNull(System.getProperty(ATTACK_PROPERTY), "the tenant's <Call> ran in the front");
        assertEquals(List.of(), names());
        // The scanner names a linked file by its real path.
        String failure = directory.getFailures().get(evil);
        assertNotNull(failure, directory.getFailures().toString());
        assertTrue(failure.contains("refused: " + tenant + " is owned by uid " + ALICE + ", not by root"), failure);
    }

    @Test
    public void testFileWritableByGroupIsRefused() throws Exception
    {
        Path file = write("alice.xml", vhostXml("""
            <Call class="java.lang.System" name="setProperty"><Arg>%s</Arg><Arg>ran as root</Arg></Call>
            <Call name="addHostName"><Arg>alice.test</Arg></Call>
            <Set name="user">%d</Set>
            <Set name="group">%d</Set>
            <Set name="app">/nowhere</Set>
            """.formatted(ATTACK_PROPERTY, ALICE, ALICE)));
        Files.setAttribute(file, "unix:gid", ALICE);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-rw----"));

        server.start();

        assertNull(System.getProperty(ATTACK_PROPERTY), "a file the tenant's group may write ran in the front");
        String failure = directory.getFailures().get(file);
        assertNotNull(failure, directory.getFailures().toString());
        assertTrue(failure.contains("refused: " + file + " is writable by others than its owner (mode 0660)"), failure);
    }

    @Test
    public void testDirectoryOwnedByTenantFailsStart() throws Exception
    {
        write("alice.xml", vhostXml("alice.test", ALICE));
        ItkTestServer.chown(dir, ALICE);

        Exception failure = assertThrows(Exception.class, server::start);

        String messages = failure.toString() + failure.getCause();
        assertTrue(messages.contains("vhost directory " + dir + " refused: " + dir.toRealPath() + " is owned by uid " + ALICE + ", not by root"), messages);
        assertEquals(List.of(), names());
    }

    @Test
    public void testPrivateFileIsServed() throws Exception
    {
        Path file = write("alice.xml", vhostXml("alice.test", ALICE));
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));

        server.start();

        assertEquals(Map.of(), directory.getFailures());
        assertServed("alice.test", "alice");
    }

    private static final class HelloHandler extends Handler.Abstract
    {
        private final String vhost;

        private HelloHandler(String vhost)
        {
            this.vhost = vhost;
        }

        @Override
        public boolean handle(Request request, Response response, Callback callback)
        {
            response.setStatus(200);
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/plain;charset=utf-8");
            Content.Sink.write(response, true, "hello from " + vhost, callback);
            return true;
        }
    }
}
