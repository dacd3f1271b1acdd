package org.jettyitk.tests;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;

import org.eclipse.jetty.client.ContentResponse;
import org.jettyitk.VirtualHost;
import org.jettyitk.internal.front.WorkerPool;
import org.jettyitk.internal.launch.ProcessWorkerLauncher;
import org.jettyitk.internal.wire.SessionStore;
import org.jettyitk.internal.worker.WorkerSessions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.awaitility.Awaitility.await;
import static org.jettyitk.tests.ItkTestServer.ALICE;
import static org.jettyitk.tests.ItkTestServer.BOB;
import static org.jettyitk.tests.ItkTestServer.TIMEOUT_SECONDS;
import static org.jettyitk.tests.ItkTestServer.lines;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>A user's HTTP session outlives the worker that created it: after each way a worker goes (idle reap, recycle,
 * replaced vhost, restarted front, SIGKILL) the next worker continues the user's session counter with the same
 * session id. The default store's files are created by the tenant's uid, in a directory no other uid may read.</p>
 */
public class SessionPersistenceTest
{
    private static final String HOST = "alice.test";
    private static final long IDLE_TIMEOUT_MILLIS = 1000;
    private static final long MAX_REQUESTS_PER_WORKER = 2;

    private ItkTestServer front;
    private VirtualHost alice;

    @BeforeEach
    public void assumeRoot()
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: workers run as numeric uids 41001, 41002");
    }

    @AfterEach
    public void stop() throws Exception
    {
        if (front != null)
            front.close();
    }

    /**
     * Starts a front whose work directory outlives it (as {@code jetty.itk.workDirectory} set in a base), with
     * the {@link SessionApp} vhost running as {@link ItkTestServer#ALICE}, configured by the test.
     */
    private void start(Consumer<VirtualHost> configure) throws Exception
    {
        front = new ItkTestServer();
        front.itk.setWorkDirectory(front.root.resolve("work"));
        alice = newVirtualHost(front.tenantDirectory("alice", ALICE));
        configure.accept(alice);
        front.add(alice);
        front.start();
    }

    private static VirtualHost newVirtualHost(Path app)
    {
        VirtualHost vhost = new VirtualHost("alice");
        vhost.setHostNames(HOST);
        vhost.setUser(Integer.toString(ALICE));
        vhost.setGroup(Integer.toString(ALICE));
        vhost.setGroups();
        vhost.setApp(app.toString());
        vhost.setHandlerClass(SessionApp.class.getName());
        return vhost;
    }

    private WorkerPool pool()
    {
        return front.itk.getWorkerPool(alice);
    }

    /**
     * @return the {@code /count} lines; the client's cookie store sends the session cookie back
     */
    private Map<String, String> count() throws Exception
    {
        return count("/count");
    }

    private Map<String, String> count(String pathQuery) throws Exception
    {
        ContentResponse response = front.get(front.http1, HOST, pathQuery);
        assertEquals(200, response.getStatus(), response::getContentAsString);
        return lines(response.getContentAsString());
    }

    /**
     * Counts to 2 in a new session, lets {@code workerGoes} end the worker, then checks that the next worker
     * counts 3 in the same session.
     */
    private void assertSessionOutlivesWorker(WorkerGoes workerGoes) throws Exception
    {
        assertSessionOutlivesWorker("/count", workerGoes);
    }

    /**
     * @param secondRequest the request that counts 2
     */
    private void assertSessionOutlivesWorker(String secondRequest, WorkerGoes workerGoes) throws Exception
    {
        Map<String, String> first = count();
        assertEquals("1", first.get("count"));
        Map<String, String> second = count(secondRequest);
        assertEquals("2", second.get("count"));
        assertEquals(first.get("session"), second.get("session"));
        long pid = Long.parseLong(second.get("pid"));

        workerGoes.run(pid);
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> !isAlive(pid));

        Map<String, String> third = count();
        assertNotEquals(Long.toString(pid), third.get("pid"), "the same worker answered");
        assertEquals(first.get("session"), third.get("session"), "new session id");
        assertEquals("3", third.get("count"), "counter restarted");
    }

    private interface WorkerGoes
    {
        void run(long pid) throws Exception;
    }

    private static boolean isAlive(long pid)
    {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    @Test
    public void testOverlappingRequestsOfASessionKeepIt() throws Exception
    {
        // As a browser loads a page's parts at once: requests of one session that start while others end. Each
        // end evicts the session from the worker's cache; a request that found it there at that moment got no
        // session from Jetty's cache and started a new one.
        start(vhost -> {});
        String session = count().get("session");
        List<CompletableFuture<Void>> clients = new ArrayList<>();
        for (int client = 0; client < 4; client++)
        {
            clients.add(CompletableFuture.runAsync(() ->
            {
                for (int i = 0; i < 100; i++)
                {
                    ContentResponse response = send(front.request(front.http1, HOST, "/count"));
                    assertEquals(session, lines(response.getContentAsString()).get("session"), response::getContentAsString);
                }
            }));
        }
        for (CompletableFuture<Void> client : clients)
        {
            client.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        }
    }

    private static ContentResponse send(org.eclipse.jetty.client.Request request)
    {
        try
        {
            ContentResponse response = request.send();
            assertEquals(200, response.getStatus(), response::getContentAsString);
            return response;
        }
        catch (Exception x)
        {
            throw new AssertionError(x);
        }
    }

    @Test
    public void testSessionOutlivesIdleReap() throws Exception
    {
        start(vhost -> vhost.setIdleTimeoutMillis(IDLE_TIMEOUT_MILLIS));
        assertSessionOutlivesWorker(pid -> await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> pool().getWorkerCount() == 0));
    }

    @Test
    public void testSessionOutlivesRecycle() throws Exception
    {
        // The second request is the worker's last: the third goes to its successor.
        start(vhost -> vhost.setMaxRequestsPerWorker(MAX_REQUESTS_PER_WORKER));
        assertSessionOutlivesWorker(pid ->
        {
        });
        assertEquals(2, pool().getSpawned());
    }

    @Test
    public void testSessionOutlivesReplacedVirtualHost() throws Exception
    {
        start(vhost ->
        {
        });
        assertSessionOutlivesWorker(pid ->
        {
            VirtualHost replacement = newVirtualHost(Path.of(alice.getApp()));
            front.itk.replaceVirtualHost(alice, replacement);
            alice = replacement;
        });
    }

    @Test
    public void testSessionOutlivesFrontRestart() throws Exception
    {
        start(vhost ->
        {
        });
        assertSessionOutlivesWorker(pid ->
        {
            front.server.stop();
            front.server.start();
        });
    }

    @Test
    public void testSessionOutlivesKilledWorker() throws Exception
    {
        start(vhost ->
        {
        });
        // The second request has its response but is not over when the worker is killed: what the worker
        // acknowledged must be in the store already, not written when the request ends.
        assertSessionOutlivesWorker("/count?hold=" + TimeUnit.SECONDS.toMillis(TIMEOUT_SECONDS), pid -> ProcessHandle.of(pid).orElseThrow().destroyForcibly());
    }

    @Test
    public void testMemoryStoreLosesSessionWithWorker() throws Exception
    {
        start(vhost -> vhost.setSessionStore(SessionStore.MEMORY));
        Map<String, String> first = count();
        long pid = Long.parseLong(first.get("pid"));
        ProcessHandle.of(pid).orElseThrow().destroyForcibly();
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> !isAlive(pid));

        Map<String, String> second = count();
        assertEquals("1", second.get("count"));
        assertNotEquals(first.get("session"), second.get("session"));
        assertFalse(Files.exists(home().resolve(WorkerSessions.DIRECTORY_NAME)), "memory store wrote a session directory");
    }

    @Test
    public void testAppWithoutSessionsGetsNoSessionDirectory() throws Exception
    {
        front = new ItkTestServer();
        front.itk.setWorkDirectory(front.root.resolve("work"));
        VirtualHost plain = front.addTestApp("alice", ALICE);
        front.start();
        assertEquals(200, front.get(front.http1, plain.getHostNames().get(0), "/pid").getStatus());
        assertFalse(Files.exists(home().resolve(WorkerSessions.DIRECTORY_NAME)), "a session directory for an app without sessions");
    }

    private Path home() throws Exception
    {
        try (Stream<Path> homes = Files.list(front.root.resolve("work")))
        {
            return homes.filter(path -> path.getFileName().toString().contains("alice")).findFirst().orElseThrow();
        }
    }

    @Test
    public void testSessionFilesBelongToTenantAndNoOtherUidReadsThem() throws Exception
    {
        start(vhost ->
        {
        });
        count();
        Path directory = home().resolve(WorkerSessions.DIRECTORY_NAME);
        List<Path> files;
        try (Stream<Path> list = Files.list(directory))
        {
            files = list.toList();
        }
        assertEquals(1, files.size(), () -> "session files " + files);
        Path file = files.get(0);

        // Created by the worker after its drop, not by root.
        assertEquals(ALICE, Files.getAttribute(directory, "unix:uid", LinkOption.NOFOLLOW_LINKS));
        assertEquals(ALICE, Files.getAttribute(file, "unix:uid", LinkOption.NOFOLLOW_LINKS));
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(directory, LinkOption.NOFOLLOW_LINKS)));
        String content = new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1);
        assertTrue(content.contains(SessionApp.COUNT), "not the session's file");

        // Another tenant, even one in alice's group, can neither list the directory nor read the file.
        for (Path path : List.of(directory, file))
        {
            Process cat = new ProcessBuilder(ProcessWorkerLauncher.SETPRIV, "--reuid=" + BOB, "--regid=" + ALICE, "--clear-groups", "--",
                "/bin/cat", path.toString())
                .redirectErrorStream(true)
                .start();
            String output = new String(cat.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
            assertTrue(cat.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS));
            assertNotEquals(0, cat.exitValue(), () -> "uid " + BOB + " read " + path + ": " + output);
            assertTrue(output.contains("Permission denied"), output);
        }
    }

    @Test
    public void testSessionWithUnserializableAttributeIsNoLongerStored() throws Exception
    {
        start(vhost ->
        {
        });
        assertEquals("1", count().get("count"));
        // The app still answers, and its worker still has the session in memory...
        assertEquals("2", count("/count?unserializable").get("count"));
        Map<String, String> third = count();
        assertEquals("3", third.get("count"));
        long pid = Long.parseLong(third.get("pid"));
        ProcessHandle.of(pid).orElseThrow().destroyForcibly();
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> !isAlive(pid));

        // ...but the store has the session as it was before the attribute: the next worker continues from there.
        Map<String, String> fourth = count();
        assertEquals(third.get("session"), fourth.get("session"));
        assertEquals("2", fourth.get("count"));
    }

    @Test
    public void testSessionXmlWithoutDataStoreFailsWorkerWithReason() throws Exception
    {
        Path xml = Files.createTempFile("itk-sessions-", ".xml");
        try
        {
            Files.writeString(xml, """
                <?xml version="1.0"?>
                <!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "https://jetty.org/configure_10_0.dtd">
                <Configure id="Server" class="org.eclipse.jetty.server.Server"/>
                """);
            Files.setPosixFilePermissions(xml, PosixFilePermissions.fromString("rw-r--r--"));
            assertEquals("session store " + xml + " failed: java.lang.IllegalStateException: session store " + xml +
                " adds no org.eclipse.jetty.session.SessionDataStoreFactory bean to the Server", awaitFailure(xml));
        }
        finally
        {
            Files.deleteIfExists(xml);
        }
    }

    @Test
    public void testSessionXmlIsReadByTenantNotByRoot() throws Exception
    {
        // A file only root may read: the worker, running as alice, cannot evaluate it.
        Path xml = Files.createTempFile("itk-sessions-", ".xml");
        try
        {
            Files.setPosixFilePermissions(xml, PosixFilePermissions.fromString("rw-------"));
            assertEquals("session store " + xml + " failed: java.io.IOException: not readable by this vhost's user: " + xml, awaitFailure(xml));
        }
        finally
        {
            Files.deleteIfExists(xml);
        }
    }

    /**
     * Starts alice with the session XML file, and returns why its worker could not start.
     */
    private String awaitFailure(Path xml) throws Exception
    {
        start(vhost -> vhost.setSessionStore(xml.toString()));
        ContentResponse response = front.get(front.http1, HOST, "/count");
        assertEquals(503, response.getStatus(), response::getContentAsString);
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> pool().getLastFailure() != null);
        return pool().getLastFailure();
    }

    @Test
    public void testBadSessionStoreIsRefusedWithItsValue()
    {
        VirtualHost vhost = new VirtualHost("alice");
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> vhost.setSessionStore("jdbc"));
        assertTrue(x.getMessage().endsWith(": jdbc"), x.getMessage());
    }
}
