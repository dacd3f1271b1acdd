package org.jettyitk.tests;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;

import org.eclipse.jetty.client.ContentResponse;
import org.jettyitk.VirtualHost;
import org.jettyitk.internal.front.AppCheck;
import org.jettyitk.internal.front.WorkerPool;
import org.jettyitk.internal.posix.Identity;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.awaitility.Awaitility.await;
import static org.jettyitk.tests.ItkTestServer.ALICE;
import static org.jettyitk.tests.ItkTestServer.BOB;
import static org.jettyitk.tests.ItkTestServer.TIMEOUT_SECONDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>A worker that cannot start says why where the admin looks: the reason it gives reaches the front, which
 * keeps it next to the crash count (status page, {@link WorkerPool#getLastFailure()}) and logs it with the exit;
 * an app that is missing or that the vhost's user cannot read is told apart, and is reported when the vhost is
 * loaded ({@link AppCheck}).</p>
 */
public class FailureReasonTest
{
    private static final String STATUS_PATH = "/itk-status";

    private ItkTestServer front;

    @BeforeEach
    public void assumeRoot()
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: workers run as numeric uid 41001");
    }

    @AfterEach
    public void stop() throws Exception
    {
        if (front != null)
            front.close();
    }

    private VirtualHost startWithApp(Path app) throws Exception
    {
        front = new ItkTestServer();
        front.tenantDirectory("alice", ALICE);
        VirtualHost alice = new VirtualHost("alice");
        alice.setHostNames("alice.test");
        alice.setUser(Integer.toString(ALICE));
        alice.setGroup(Integer.toString(ALICE));
        alice.setApp(app.toString());
        front.add(alice);
        front.itk.setStatusPath(STATUS_PATH);
        front.start();
        return alice;
    }

    private String awaitLastFailure(VirtualHost vhost) throws Exception
    {
        WorkerPool pool = front.itk.getWorkerPool(vhost);
        ContentResponse response = front.get(front.http1, "alice.test", "/");
        assertEquals(503, response.getStatus(), response::getContentAsString);
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> pool.getLastFailure() != null);
        return pool.getLastFailure();
    }

    private String status() throws Exception
    {
        ContentResponse response = front.get(front.http1, "127.0.0.1", STATUS_PATH);
        assertEquals(200, response.getStatus(), response::getContentAsString);
        return response.getContentAsString();
    }

    @Test
    public void testMissingAppReasonReachesTheFrontAndTheStatusPage() throws Exception
    {
        Path dir = Files.createTempDirectory("itk-missing-");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x--x"));
        Path missing = dir.resolve("site.war");
        VirtualHost alice = startWithApp(missing);

        String failure = awaitLastFailure(alice);

        assertTrue(failure.contains("app not found: " + missing), failure);
        String status = status();
        assertTrue(status.contains("\"crashes\":1,\"lastFailure\":\"" + failure + "\""), status);
    }

    @Test
    public void testAppTheUserCannotReachIsNotReportedAsMissing() throws Exception
    {
        // Root's 0700 directory: alice's worker may not search it.
        Path hidden = Files.createTempDirectory("itk-hidden-");
        Files.setPosixFilePermissions(hidden, PosixFilePermissions.fromString("rwx------"));
        Path app = Files.createDirectory(hidden.resolve("www"));
        VirtualHost alice = startWithApp(app);

        String failure = awaitLastFailure(alice);

        assertTrue(failure.contains("app not reachable by this vhost's user: " + app), failure);
    }

    @Test
    public void testAppCheckAtLoadTellsMissingFromUnreadable() throws Exception
    {
        Identity alice = new Identity("alice", ALICE, ALICE, new int[]{ALICE});
        Path dir = Files.createTempDirectory("itk-appcheck-");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x--x"));
        Path own = Files.createDirectory(dir.resolve("own"));
        ItkTestServer.chown(own, ALICE);
        Path other = Files.createDirectory(dir.resolve("other"));
        ItkTestServer.chown(other, BOB);
        Files.setPosixFilePermissions(other, PosixFilePermissions.fromString("rwx------"));

        assertNull(AppCheck.problem(own.toString(), alice));
        String missing = AppCheck.problem(dir.resolve("gone/site.war").toString(), alice);
        assertTrue(missing != null && missing.contains("does not exist"), missing);
        String unreadable = AppCheck.problem(other.toString(), alice);
        assertTrue(unreadable != null && unreadable.contains("not readable by uid " + ALICE) && unreadable.contains("mode 700 owned by " + BOB), unreadable);
    }
}
