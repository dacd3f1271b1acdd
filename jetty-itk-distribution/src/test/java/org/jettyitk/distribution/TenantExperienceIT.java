package org.jettyitk.distribution;

import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.eclipse.jetty.client.AsyncRequestContent;
import org.eclipse.jetty.client.CompletableResponseListener;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>What a hosting customer and an admin meet, through the module path ({@code http,itk} on the real jetty-home
 * with the real overlay, vhost files in {@code itk/}): sessions that outlive the workers, a reload that does not
 * wait for a drain, and a worker that cannot start saying why. One Jetty serves every test; the last one restarts
 * it.</p>
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
public class TenantExperienceIT
{
    private static final int SLOW = 43401;
    private static final int LATE = 43402;
    private static final int MISSING = 43403;
    private static final int HIDDEN = 43404;
    private static final int OTHER = 43405;
    private static final int COUNTER = 43406;
    private static final String STATUS_PATH = "/itk-status";

    private JettyBase base;
    private Clients clients;
    private int port;
    private Path workDirectory;
    private Path fidelity;

    @BeforeAll
    public void start() throws Exception
    {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
            "the front must run as root to start workers as other users (run the build as root)");
        base = JettyBase.create("base-tenant-experience");
        clients = new Clients();
        port = JettyBase.freePort();
        // A lasting work directory, as docs/sessions.md says, for sessions that outlive a restart of the server.
        workDirectory = base.dir.resolve("work");
        fidelity = JettyBase.itDirectory().resolve("fidelity.war");
        base.startJar(null, "--approve-all-licenses", "--add-modules=http,itk");
        startJetty();
    }

    private void startJetty() throws Exception
    {
        base.start("jetty.http.host=127.0.0.1", "jetty.http.port=" + port,
            "jetty.itk.scanIntervalSeconds=1",
            "jetty.itk.statusPath=" + STATUS_PATH,
            "jetty.itk.workDirectory=" + workDirectory,
            // Longer than any wait here: a drain ends when its request does, never by this timeout.
            "jetty.itk.drainTimeoutMillis=300000");
    }

    @AfterAll
    public void stop()
    {
        if (clients != null)
            clients.close();
        if (base != null)
            base.close();
    }

    private String url(String host, String path)
    {
        return "http://" + host + ":" + port + path;
    }

    private Path vhostFile(String name)
    {
        return base.dir.resolve("itk/" + name + ".xml");
    }

    private String status() throws Exception
    {
        ContentResponse response = clients.get(url("127.0.0.1", STATUS_PATH));
        assertEquals(200, response.getStatus(), response::getContentAsString);
        return response.getContentAsString();
    }

    /**
     * @return the status page's entry of the vhost, up to its workers
     */
    private String vhostStatus(String name) throws Exception
    {
        String status = status();
        Matcher entry = Pattern.compile("\\{\"name\":\"" + Pattern.quote(name) + "\",[^{]*").matcher(status);
        return entry.find() ? entry.group() : "";
    }

    /**
     * Replaces a vhost file by the same definition with a comment more, as an admin's edit does.
     */
    private void edit(String name, String xml, String comment) throws Exception
    {
        base.writeVhost(name + ".xml", xml.replace("</Configure>", "  <!-- " + comment + " -->\n</Configure>"));
    }

    @Test
    @Order(1)
    public void testReloadDoesNotWaitForTheDrainOfAReplacedVhost() throws Exception
    {
        Path slowWar = base.tenant("slow", SLOW, fidelity);
        String slowXml = JettyBase.vhostXml("slow.itk.test", SLOW, base.dir.relativize(slowWar));
        base.writeVhost("slow.xml", slowXml);
        base.awaitLog("itk vhost file " + vhostFile("slow") + ": added vhost slow");

        // A request whose body the client holds back: the app reads it to its end before it answers, so the
        // request stays in flight on the worker until the test sends the rest.
        AsyncRequestContent body = new AsyncRequestContent();
        CompletableFuture<ContentResponse> inFlight = new CompletableResponseListener(clients.request(clients.http1, url("slow.itk.test", "/echo"))
            .method(HttpMethod.POST).headers(headers -> headers.put(HttpHeader.CONTENT_TYPE, "text/plain;charset=utf-8"))
            .body(body)).send();
        body.write(ByteBuffer.wrap("first half,".getBytes(StandardCharsets.UTF_8)), Callback.NOOP);
        Pattern slowBusy = Pattern.compile("\\{\"name\":\"slow\",[^{]*\\{\"pid\":\\d+,\"state\":\"READY\",[^}]*\"inFlight\":1[,}]");
        await().atMost(JettyBase.TIMEOUT).until(() -> slowBusy.matcher(status()).find());

        edit("slow", slowXml, "edited while a request is in flight");
        base.awaitLog("itk vhost file " + vhostFile("slow") + ": replaced vhost slow");
        assertFalse(base.logText().contains("vhost drained slow"), "the old worker still has the request: " + base.logText());

        // A new vhost while the old worker of slow drains: picked up by the next scans and served.
        Path lateWar = base.tenant("late", LATE, fidelity);
        base.writeVhost("late.xml", JettyBase.vhostXml("late.itk.test", LATE, base.dir.relativize(lateWar)));
        base.awaitLog("itk vhost file " + vhostFile("late") + ": added vhost late");
        ContentResponse late = clients.get(url("late.itk.test", "/text"));
        assertEquals(200, late.getStatus(), late::getContentAsString);
        assertFalse(inFlight.isDone(), "the request in flight on slow's old worker is still waiting for its body");
        assertFalse(base.logText().contains("vhost drained slow"), base.logText());

        body.write(ByteBuffer.wrap("second half".getBytes(StandardCharsets.UTF_8)), Callback.NOOP);
        body.close();
        ContentResponse response = inFlight.get(Clients.TIMEOUT_SECONDS, TimeUnit.SECONDS);
        assertEquals(200, response.getStatus(), response::getContentAsString);
        assertTrue(response.getContentAsString().contains("first half,second half"), response.getContentAsString());

        base.awaitLog("vhost drained slow");
        String log = base.logText();
        int replaced = log.indexOf("itk vhost file " + vhostFile("slow") + ": replaced vhost slow");
        int added = log.indexOf("itk vhost file " + vhostFile("late") + ": added vhost late");
        int drained = log.indexOf("vhost drained slow");
        assertTrue(replaced < added && added < drained, "replaced, then another vhost added, then drained:\n" + log);
    }

    @Test
    @Order(2)
    public void testWorkerThatCannotStartSaysWhy() throws Exception
    {
        // An app path that does not exist, in the tenant's own directory.
        Path missing = base.tenant("missing", MISSING, fidelity).resolveSibling("site.war");
        // An app directory the tenant's uid cannot read: another uid's, mode 0700, in the tenant's directory.
        Path hidden = base.tenant("hidden", HIDDEN, fidelity).resolveSibling("www");
        Files.createDirectory(hidden);
        Files.writeString(hidden.resolve("index.html"), "<p>hidden</p>\n");
        for (Path path : List.of(hidden, hidden.resolve("index.html")))
        {
            Files.setAttribute(path, "unix:uid", OTHER);
            Files.setAttribute(path, "unix:gid", OTHER);
        }
        Files.setPosixFilePermissions(hidden, PosixFilePermissions.fromString("rwx------"));

        base.writeVhost("missing.xml", JettyBase.vhostXml("missing.itk.test", MISSING, base.dir.relativize(missing)));
        base.writeVhost("hidden.xml", JettyBase.vhostXml("hidden.itk.test", HIDDEN, base.dir.relativize(hidden)));
        base.awaitLog("itk vhost file " + vhostFile("missing") + ": added vhost missing");
        base.awaitLog("itk vhost file " + vhostFile("hidden") + ": added vhost hidden");

        // Said at load, at WARN, naming the path; the vhosts are loaded all the same.
        String log = base.logText();
        assertTrue(log.contains("vhost hidden: app " + hidden + " is not readable by uid " + HIDDEN + ": " + hidden + " is mode 700 owned by " + OTHER + ":" + OTHER), log);
        assertWarn(log, "vhost missing: app " + missing + " does not exist");
        assertWarn(log, "vhost hidden: app " + hidden + " is not readable by uid " + HIDDEN);

        CompletableFuture<ContentResponse> missingResponse = new CompletableResponseListener(clients.request(clients.http1, url("missing.itk.test", "/"))).send();
        ContentResponse hiddenResponse = clients.get(url("hidden.itk.test", "/"));
        assertEquals(503, missingResponse.get(Clients.TIMEOUT_SECONDS, TimeUnit.SECONDS).getStatus());
        assertEquals(503, hiddenResponse.getStatus(), hiddenResponse::getContentAsString);

        // The front's line for the worker's exit, at WARN, with the reason the worker gave.
        base.awaitLog("worker exited unexpectedly vhost=missing");
        base.awaitLog("worker exited unexpectedly vhost=hidden");
        log = base.logText();
        String missingExit = assertWarn(log, "worker exited unexpectedly vhost=missing");
        assertTrue(missingExit.contains("reason=deploy of " + missing + " failed: java.io.IOException: app not found: " + missing), missingExit);
        String hiddenExit = assertWarn(log, "worker exited unexpectedly vhost=hidden");
        assertTrue(hiddenExit.contains("reason=deploy of " + hidden + " failed: java.io.IOException: app not readable by this vhost's user: " + hidden), hiddenExit);
        assertFalse(hiddenExit.contains("not found"), hiddenExit);

        // The status page: the reason next to the crash count (counted as the exit is handled, just after the
        // request was answered and the line logged).
        assertStatusSoon("missing", "deploy of " + missing + " failed: java.io.IOException: app not found: " + missing);
        assertStatusSoon("hidden", "deploy of " + hidden + " failed: java.io.IOException: app not readable by this vhost's user: " + hidden);

        // The worker's own lines (its stack trace) relayed to the log, tabs readable.
        List<String> relayed = log.lines().filter(line -> line.contains(":ojw.missing:")).toList();
        assertTrue(relayed.stream().anyMatch(line -> line.matches(".*\\[\\d+\\]     at org\\.jettyitk\\..*")), "the stack trace is relayed, indented:\n" + String.join("\n", relayed));
        assertTrue(relayed.stream().noneMatch(line -> line.contains("?at ") || line.contains("\t")), "tabs are readable:\n" + String.join("\n", relayed));
    }

    /**
     * Asserts that the vhost's entry of the status page soon shows a crash and the failure.
     */
    private void assertStatusSoon(String vhost, String failure)
    {
        Pattern crashed = Pattern.compile("\"crashes\":[1-9][0-9]*,\"lastFailure\":\"" + Pattern.quote(failure));
        await().atMost(JettyBase.TIMEOUT).untilAsserted(() ->
        {
            String status = vhostStatus(vhost);
            assertTrue(crashed.matcher(status).find(), status);
        });
    }

    /**
     * @return the log's line containing the text, asserted to be a WARN line
     */
    private static String assertWarn(String log, String text)
    {
        String line = log.lines().filter(l -> l.contains(text)).findFirst().orElse(null);
        assertNotNull(line, "no line with '" + text + "' in\n" + log);
        assertTrue(line.contains(":WARN :"), line);
        return line;
    }

    @Test
    @Order(3)
    public void testSessionOutlivesReplacedVhostAndRestartedServer() throws Exception
    {
        Path counterWar = base.tenant("counter", COUNTER, fidelity);
        String counterXml = JettyBase.vhostXml("counter.itk.test", COUNTER, base.dir.relativize(counterWar));
        base.writeVhost("counter.xml", counterXml);
        base.awaitLog("itk vhost file " + vhostFile("counter") + ": added vhost counter");

        ContentResponse first = clients.get(url("counter.itk.test", "/session"));
        assertEquals(200, first.getStatus(), first::getContentAsString);
        assertTrue(first.getContentAsString().startsWith("new: true, count: 1,"), first.getContentAsString());
        String session = sessionCookie();
        long firstWorker = workerPid();
        assertCount(2, session);

        // (a) The vhost file is edited: a new worker, the same session.
        edit("counter", counterXml, "edited");
        base.awaitLog("itk vhost file " + vhostFile("counter") + ": replaced vhost counter");
        assertCount(3, session);
        assertNotEquals(firstWorker, workerPid(), "a new worker serves the replaced vhost");

        // The store is the tenant's: its directory in the vhost's home, the tenant's, no one else's.
        Path sessions = workDirectory.resolve("vhost-counter/sessions");
        assertEquals(COUNTER, Files.getAttribute(sessions, "unix:uid"));
        assertEquals(COUNTER, Files.getAttribute(sessions, "unix:gid"));
        Set<PosixFilePermission> mode = Files.getPosixFilePermissions(sessions);
        assertEquals(PosixFilePermissions.fromString("rwx------"), mode, PosixFilePermissions.toString(mode));
        String id = session.substring(0, session.indexOf('.') < 0 ? session.length() : session.indexOf('.'));
        try (Stream<Path> files = Files.list(sessions))
        {
            List<Path> stored = files.toList();
            assertTrue(stored.stream().anyMatch(file -> file.getFileName().toString().endsWith("_" + id)), "the session's file: " + stored);
            for (Path file : stored)
            {
                assertEquals(COUNTER, Files.getAttribute(file, "unix:uid"), file.toString());
            }
        }

        // (b) The whole server restarts (its log starts again: the first one is kept beside it).
        base.stop();
        Files.copy(base.log, base.dir.resolve("jetty-before-restart.log"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        startJetty();
        assertCount(4, session);

        // What the front made for itself in the lasting work directory at the first start is gone: each start
        // stages a class path and trains an archive of its own, and restarts must not pile them up.
        try (Stream<Path> entries = Files.list(workDirectory))
        {
            List<String> own = entries.map(entry -> entry.getFileName().toString()).filter(name -> !name.startsWith("vhost-")).sorted().toList();
            assertTrue(own.stream().filter(name -> name.startsWith("classpath-")).count() <= 1, "one start's staged class path: " + own);
            assertTrue(own.stream().filter(name -> name.startsWith("class-archive-")).count() <= 1, "one start's class-data archive: " + own);
        }
    }

    /**
     * Asserts that the next request of the session counts {@code count}, in the same session.
     */
    private void assertCount(int count, String session) throws Exception
    {
        ContentResponse response = clients.get(url("counter.itk.test", "/session"));
        assertEquals(200, response.getStatus(), response::getContentAsString);
        String text = response.getContentAsString();
        assertTrue(text.startsWith("new: false, count: " + count + ", requested id valid: true"), text);
        assertNull(response.getHeaders().get(HttpHeader.SET_COOKIE), "no new session cookie: " + response.getHeaders());
        assertEquals(session, sessionCookie());
    }

    private String sessionCookie()
    {
        return clients.http1.getHttpCookieStore().match(URI.create(url("counter.itk.test", "/session"))).stream()
            .filter(cookie -> "JSESSIONID".equals(cookie.getName())).map(cookie -> cookie.getValue()).findFirst()
            .orElseThrow(() -> new AssertionError("no session cookie"));
    }

    private long workerPid() throws Exception
    {
        ContentResponse pid = clients.get(url("counter.itk.test", "/pid"));
        assertEquals(200, pid.getStatus(), pid::getContentAsString);
        return Long.parseLong(pid.getContentAsString().trim());
    }
}
