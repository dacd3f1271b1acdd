package org.jettyitk.tests;

import java.util.Map;

import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.http.HttpCompliance;
import org.jettyitk.VirtualHost;
import org.jettyitk.tests.ItkTestServer.RawResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static org.jettyitk.tests.ItkTestServer.ALICE;
import static org.jettyitk.tests.ItkTestServer.BOB;
import static org.jettyitk.tests.ItkTestServer.CAROL;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * <p>Configuration errors fail {@code start()} with a message naming the vhost, and requests are routed to the
 * vhost their host names: case-insensitive, port and one trailing dot ignored, {@code *.domain} for one label,
 * absolute-form target before {@code Host}, unknown hosts to the default vhost or a 404.</p>
 * <p>The start failures need no root: they happen before any directory is chowned or any worker spawned.</p>
 */
public class ConfigurationTest
{
    /** Routing: alice.test, bob.test and *.example.test, no default vhost, absolute-form targets may differ from Host. */
    private static ItkTestServer hostsFront;
    /** alice.test, and alice as the default vhost. */
    private static ItkTestServer defaultFront;

    @AfterAll
    public static void stop() throws Exception
    {
        try
        {
            if (hostsFront != null)
                hostsFront.close();
        }
        finally
        {
            if (defaultFront != null)
                defaultFront.close();
        }
    }

    private static VirtualHost vhost(String name, String hostName, String user, String group)
    {
        VirtualHost vhost = new VirtualHost(name);
        vhost.setHostNames(hostName);
        vhost.setUser(user);
        vhost.setGroup(group);
        vhost.setApp("/nonexistent/app/checked/by/the/worker");
        return vhost;
    }

    /**
     * @return the message of what {@code server.start()} throws for these vhosts
     */
    private static String startFailure(VirtualHost... vhosts) throws Exception
    {
        try (ItkTestServer front = new ItkTestServer())
        {
            for (VirtualHost vhost : vhosts)
            {
                front.add(vhost);
            }
            return assertThrows(IllegalStateException.class, front.server::start).getMessage();
        }
    }

    @Test
    public void testUnknownUserFailsStart() throws Exception
    {
        assertEquals("vhost 'alice': unknown user 'no-such-itk-user'", startFailure(vhost("alice", "alice.test", "no-such-itk-user", "41001")));
    }

    @Test
    public void testUidZeroFailsStart() throws Exception
    {
        assertEquals("vhost 'alice': uid 0 is never a tenant identity", startFailure(vhost("alice", "alice.test", "0", "41001")));
    }

    @Test
    public void testRootByNameFailsStart() throws Exception
    {
        assertEquals("vhost 'alice': uid 0 is never a tenant identity", startFailure(vhost("alice", "alice.test", "root", "41001")));
    }

    @Test
    public void testGidZeroFailsStart() throws Exception
    {
        assertEquals("vhost 'alice': gid 0 is never a tenant identity", startFailure(vhost("alice", "alice.test", "41001", "0")));
    }

    @Test
    public void testSupplementaryGroupZeroFailsStart() throws Exception
    {
        VirtualHost alice = vhost("alice", "alice.test", "41001", "41001");
        alice.setGroups("41005", "0");
        assertEquals("vhost 'alice': supplementary group 0 is never a tenant identity", startFailure(alice));
    }

    @Test
    public void testUidOutsideRangeFailsStart() throws Exception
    {
        assertEquals("vhost 'alice': uid 70000 outside the allowed range 1000..60000", startFailure(vhost("alice", "alice.test", "70000", "41001")));
    }

    @Test
    public void testGidOutsideRangeFailsStart() throws Exception
    {
        assertEquals("vhost 'alice': gid 999 outside the allowed range 1000..60000", startFailure(vhost("alice", "alice.test", "41001", "999")));
    }

    @Test
    public void testCrashBackoffShorterThanItsStartFailsStart() throws Exception
    {
        // Each setter takes its value; only the resolved settings can tell that the two do not fit together.
        try (ItkTestServer front = new ItkTestServer())
        {
            front.add(vhost("alice", "alice.test", "41001", "41001"));
            front.itk.setMinCrashBackoffMillis(5000);
            front.itk.setMaxCrashBackoffMillis(1000);
            assertEquals("vhost 'alice': maxCrashBackoffMillis < 5000: 1000", assertThrows(IllegalStateException.class, front.server::start).getMessage());
        }
    }

    @Test
    public void testDuplicateHostNameFailsStart() throws Exception
    {
        assertEquals("vhost 'bob': duplicate host name 'alice.test', already in vhost 'alice'",
            startFailure(vhost("alice", "alice.test", "41001", "41001"), vhost("bob", "alice.test", "41002", "41002")));
    }

    @Test
    public void testDuplicateHostNameDifferingInCaseAndDotFailsStart() throws Exception
    {
        // The same host for the matcher, so the same host for the uniqueness check.
        assertEquals("vhost 'bob': duplicate host name 'ALICE.Test.', already in vhost 'alice'",
            startFailure(vhost("alice", "alice.test", "41001", "41001"), vhost("bob", "ALICE.Test.", "41002", "41002")));
    }

    @Test
    public void testVirtualHostWithoutUserFailsStart() throws Exception
    {
        assertEquals("vhost 'alice': no user configured", startFailure(vhost("alice", "alice.test", null, "41001")));
    }

    @Test
    public void testVirtualHostWithoutAppFailsStart() throws Exception
    {
        VirtualHost alice = vhost("alice", "alice.test", "41001", "41001");
        alice.setApp(null);
        assertEquals("vhost 'alice': no app", startFailure(alice));
    }

    @Test
    public void testUnknownDefaultVirtualHostFailsStart() throws Exception
    {
        try (ItkTestServer front = new ItkTestServer())
        {
            front.add(vhost("alice", "alice.test", "41001", "41001"));
            front.itk.setDefaultVirtualHost("nobody");
            assertEquals("default vhost 'nobody' is not a configured vhost", assertThrows(IllegalStateException.class, front.server::start).getMessage());
        }
    }

    private static ItkTestServer hostsFront() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: workers run as numeric uids 41001..41003");
        if (hostsFront == null)
        {
            ItkTestServer front = new ItkTestServer();
            front.addTestApp("alice", ALICE);
            front.addTestApp("bob", BOB);
            front.addTestApp("carol", CAROL).setHostNames("*.example.test");
            // A plain Jetty answers an absolute-form target whose authority differs from Host with 400 unless told
            // otherwise: told so here, the front must route by the target, as Jetty's own request reports it.
            front.config.setHttpCompliance(HttpCompliance.from("RFC9110,MISMATCHED_AUTHORITY"));
            hostsFront = front.start();
        }
        return hostsFront;
    }

    private static ItkTestServer defaultFront() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: the worker runs as numeric uid 41001");
        if (defaultFront == null)
        {
            ItkTestServer front = new ItkTestServer();
            front.addTestApp("alice", ALICE);
            front.itk.setDefaultVirtualHost("alice");
            defaultFront = front.start();
        }
        return defaultFront;
    }

    /**
     * @return the uid serving {@code /whoami} for the Host header, or -status when the answer is not 200
     */
    private static int uidFor(ItkTestServer front, String host) throws Exception
    {
        return uidOf(front.raw("""
            GET /whoami HTTP/1.1\r
            Host: %s\r
            Connection: close\r
            \r
            """.formatted(host)));
    }

    private static int uidOf(RawResponse response)
    {
        if (response.status() != 200)
            return -response.status();
        String uids = ItkTestServer.lines(response.content()).get("Uid");
        return Integer.parseInt(uids.split("\\s+")[0]);
    }

    @Test
    public void testUnknownHostGets404WithoutDefault() throws Exception
    {
        ItkTestServer front = hostsFront();
        assertEquals(-404, uidFor(front, "nobody.test"));
        ContentResponse response = front.get(front.http2, "nobody.test", "/whoami");
        assertEquals(404, response.getStatus(), response::getContentAsString);
    }

    @Test
    public void testUnknownHostGoesToDefaultVirtualHost() throws Exception
    {
        ItkTestServer front = defaultFront();
        assertEquals(ALICE, uidFor(front, "nobody.test"));
        ContentResponse response = front.get(front.http2, "nobody.test", "/whoami");
        assertEquals(200, response.getStatus(), response::getContentAsString);
        assertEquals(ALICE + "\t" + ALICE + "\t" + ALICE + "\t" + ALICE, ItkTestServer.lines(response.getContentAsString()).get("Uid"));
    }

    @Test
    public void testHostMatchIsCaseInsensitive() throws Exception
    {
        ItkTestServer front = hostsFront();
        assertEquals(ALICE, uidFor(front, "ALICE.Test"));
        assertEquals(BOB, uidFor(front, "bOB.TEST"));
    }

    @Test
    public void testHostMatchIgnoresTrailingDot() throws Exception
    {
        ItkTestServer front = hostsFront();
        assertEquals(ALICE, uidFor(front, "alice.test."));
        assertEquals(BOB, uidFor(front, "bob.test.:" + front.port()));
    }

    @Test
    public void testHostMatchIgnoresPort() throws Exception
    {
        ItkTestServer front = hostsFront();
        assertEquals(ALICE, uidFor(front, "alice.test:" + front.port()));
        assertEquals(ALICE, uidFor(front, "alice.test:8080"));
        assertEquals(BOB, uidFor(front, "bob.test:1"));
    }

    @Test
    public void testWildcardMatchesOneLabel() throws Exception
    {
        ItkTestServer front = hostsFront();
        assertEquals(CAROL, uidFor(front, "www.example.test"));
        assertEquals(CAROL, uidFor(front, "Other.EXAMPLE.test.:" + front.port()));
    }

    @Test
    public void testWildcardDoesNotMatchTwoLabels() throws Exception
    {
        assertEquals(-404, uidFor(hostsFront(), "a.b.example.test"));
    }

    @Test
    public void testWildcardDoesNotMatchBareDomain() throws Exception
    {
        assertEquals(-404, uidFor(hostsFront(), "example.test"));
    }

    @Test
    public void testAbsoluteFormTargetWinsOverHost() throws Exception
    {
        ItkTestServer front = hostsFront();
        assertEquals(BOB, uidOf(front.raw("""
            GET http://bob.test:%d/whoami HTTP/1.1\r
            Host: alice.test\r
            Connection: close\r
            \r
            """.formatted(front.port()))));
    }

    @Test
    public void testTenantSeesTheHostItWasRoutedBy() throws Exception
    {
        ItkTestServer front = hostsFront();
        RawResponse response = front.raw("""
            GET http://bob.test:%d/info HTTP/1.1\r
            Host: alice.test\r
            Connection: close\r
            \r
            """.formatted(front.port()));
        assertEquals(200, response.status(), response::content);
        Map<String, String> info = ItkTestServer.lines(response.content());
        assertEquals("bob.test", info.get("serverName"));
        assertEquals(Integer.toString(front.port()), info.get("serverPort"));
    }

    @Test
    public void testMismatchedAuthorityRejectedAsByPlainJetty() throws Exception
    {
        // Default compliance: Jetty refuses the request before any handler, so no vhost, not even the default, sees it.
        ItkTestServer front = defaultFront();
        RawResponse response = front.raw("""
            GET http://bob.test:%d/whoami HTTP/1.1\r
            Host: alice.test\r
            Connection: close\r
            \r
            """.formatted(front.port()));
        assertEquals(400, response.status(), response::content);
    }
}
