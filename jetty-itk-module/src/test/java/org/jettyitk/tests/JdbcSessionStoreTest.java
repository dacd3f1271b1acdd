package org.jettyitk.tests;

import java.net.HttpCookie;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.http.HttpCookieStore;
import org.eclipse.jetty.http.HttpHeader;
import org.jettyitk.VirtualHost;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.jettyitk.tests.ItkTestServer.ALICE;
import static org.jettyitk.tests.ItkTestServer.lines;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>A vhost's sessions in a database that several fronts share, as a provider with fronts behind a load
 * balancer sets it up: the vhost's {@code sessionStore} names a Jetty XML file with Jetty's
 * {@code JDBCSessionDataStoreFactory}, the worker evaluates it as the tenant, and a user's requests alternate
 * between two fronts (each with its own worker and work directory) without losing the session. The database is a
 * real PostgreSQL server the test starts.</p>
 */
public class JdbcSessionStoreTest
{
    private static final String HOST = "alice.test";
    private static final int ROUNDS = 4;

    private static PostgresServer postgres;
    private final List<ItkTestServer> fronts = new ArrayList<>();

    @BeforeAll
    public static void startPostgres() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: workers run as numeric uid 41001");
        Path binaries = PostgresServer.findBinaries();
        // As root (CI) the test must run: a missing server is a failure that says what to install.
        assertNotNull(binaries, "PostgreSQL's initdb and pg_ctl not found (in /usr/lib/postgresql/*/bin or on the PATH): apt-get install postgresql");
        postgres = new PostgresServer(binaries);
    }

    @AfterAll
    public static void stopPostgres() throws Exception
    {
        if (postgres != null)
            postgres.close();
    }

    @AfterEach
    public void stop() throws Exception
    {
        for (ItkTestServer front : fronts)
        {
            front.close();
        }
    }

    /**
     * @return the vhost's session XML: root's file, readable by alice's group only, as it holds the password
     */
    private static Path writeSessionXml(Path directory) throws Exception
    {
        Path xml = directory.resolve("alice-sessions.xml");
        Files.writeString(xml, """
            <?xml version="1.0"?>
            <!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "https://jetty.org/configure_10_0.dtd">
            <Configure id="Server" class="org.eclipse.jetty.server.Server">
              <Call name="addBean">
                <Arg>
                  <New class="org.eclipse.jetty.session.JDBCSessionDataStoreFactory">
                    <Set name="databaseAdaptor">
                      <New class="org.eclipse.jetty.session.DatabaseAdaptor">
                        <Call name="setDriverInfo">
                          <Arg>org.postgresql.Driver</Arg>
                          <Arg>%s</Arg>
                        </Call>
                      </New>
                    </Set>
                    <Set name="sessionTableSchema">
                      <New class="org.eclipse.jetty.session.JDBCSessionDataStore$SessionTableSchema">
                        <Set name="tableName">sessions_<Property name="jetty.itk.vhost"/></Set>
                      </New>
                    </Set>
                  </New>
                </Arg>
              </Call>
            </Configure>
            """.formatted(postgres.url().replace("&", "&amp;")));
        Files.setAttribute(xml, "unix:gid", ALICE);
        Files.setPosixFilePermissions(xml, PosixFilePermissions.fromString("rw-r-----"));
        return xml;
    }

    private ItkTestServer startFront(Path sessionXml) throws Exception
    {
        ItkTestServer front = new ItkTestServer();
        fronts.add(front);
        front.itk.setWorkDirectory(front.root.resolve("work"));
        VirtualHost alice = new VirtualHost("alice");
        alice.setHostNames(HOST);
        alice.setUser(Integer.toString(ALICE));
        alice.setGroup(Integer.toString(ALICE));
        alice.setGroups();
        alice.setApp(front.tenantDirectory("alice", ALICE).toString());
        alice.setHandlerClass(SessionApp.class.getName());
        alice.setSessionStore(sessionXml.toString());
        front.add(alice);
        // The test carries the session cookie from one front to the other, as a browser behind a balancer does.
        front.http1.setHttpCookieStore(new HttpCookieStore.Empty());
        front.start();
        return front;
    }

    @Test
    public void testSessionFollowsUserAcrossFrontsSharingDatabase() throws Exception
    {
        Path shared = Files.createTempDirectory("itk-jdbc-");
        try
        {
            Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxr-xr-x"));
            Path xml = writeSessionXml(shared);
            ItkTestServer[] balanced = {startFront(xml), startFront(xml)};

            String cookie = null;
            String session = null;
            List<String> pids = new ArrayList<>();
            for (int round = 1; round <= ROUNDS; round++)
            {
                ItkTestServer front = balanced[round % 2];
                Request request = front.request(front.http1, HOST, "/count");
                String sent = cookie;
                if (sent != null)
                    request.headers(headers -> headers.put(HttpHeader.COOKIE, sent));
                ContentResponse response = request.send();
                assertEquals(200, response.getStatus(), response::getContentAsString);
                Map<String, String> lines = lines(response.getContentAsString());
                assertEquals(Integer.toString(round), lines.get("count"), lines::toString);
                if (session == null)
                {
                    session = lines.get("session");
                    String setCookie = response.getHeaders().get(HttpHeader.SET_COOKIE);
                    assertNotNull(setCookie, "no session cookie");
                    HttpCookie parsed = HttpCookie.parse(setCookie).get(0);
                    cookie = parsed.getName() + "=" + parsed.getValue();
                }
                assertEquals(session, lines.get("session"));
                pids.add(lines.get("pid"));
            }
            assertNotEquals(pids.get(0), pids.get(1), "both fronts' requests went to one worker");

            // The session is a row of the vhost's table, not a file of either front.
            try (Connection connection = DriverManager.getConnection(postgres.url());
                 PreparedStatement select = connection.prepareStatement("SELECT count(*) FROM sessions_alice WHERE sessionid = ?"))
            {
                select.setString(1, session);
                try (ResultSet result = select.executeQuery())
                {
                    assertTrue(result.next());
                    assertEquals(1, result.getInt(1));
                }
            }
            for (ItkTestServer front : balanced)
            {
                String id = session;
                try (Stream<Path> tree = Files.walk(front.root))
                {
                    assertTrue(tree.noneMatch(path -> path.getFileName().toString().contains(id)), "a session file on a front");
                }
            }
        }
        finally
        {
            Files.deleteIfExists(shared.resolve("alice-sessions.xml"));
            Files.deleteIfExists(shared);
        }
    }
}
