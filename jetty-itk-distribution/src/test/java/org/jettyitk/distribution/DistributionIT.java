package org.jettyitk.distribution;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;

import org.eclipse.jetty.client.ContentResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>The Jetty module path of the README, on the real jetty-home distribution and the real overlay: a fresh base,
 * {@code tar xzf} of the overlay, {@code --add-modules=http,itk} (answering the license question as a user
 * would), two vhost files, then Jetty as a separate process. One Jetty runs through the ordered steps: the tenants'
 * identities, a vhost file added, broken, changed and removed while it runs, a WAR the project did not write served
 * as when deployed directly, and a stop that leaves no worker.</p>
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
public class DistributionIT
{
    private static final int ALICE = 43001;
    private static final int BOB = 43002;
    private static final int CAROL = 43003;
    private static final String SWAGGER = "webjars/swagger-ui/" + System.getProperty("itk.swagger-ui.version", "5.34.1");

    private JettyBase base;
    private Clients clients;
    private int port;
    private Path bobWar;
    private Path thirdPartyWar;
    private List<ProcessHandle> workers = List.of();

    @BeforeAll
    public void createBase() throws Exception
    {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
            "the front must run as root to start workers as other users (run the build as root)");
        base = JettyBase.create("base-vhosts");
        clients = new Clients();
        port = JettyBase.freePort();
    }

    @AfterAll
    public void dispose()
    {
        if (clients != null)
            clients.close();
        if (base != null)
            base.close();
        workers.forEach(ProcessHandle::destroyForcibly);
    }

    private String url(String host, String path)
    {
        return "http://" + host + ":" + port + path;
    }

    @Test
    @Order(1)
    public void testAddModulesWorksOfflineAndAsksForTheLicense() throws Exception
    {
        String output = base.startJar("y\n", "--add-modules=http,itk");

        assertTrue(output.contains("Module: itk-jnr"), "the license of the native-access jars is shown:\n" + output);
        assertTrue(output.contains("itk             initialized in ${jetty.base}/start.d/itk.ini"), output);
        assertFalse(output.toLowerCase().contains("download"), "nothing is downloaded:\n" + output);
        assertTrue(Files.isDirectory(base.dir.resolve("itk")), "the vhost directory is made");
        String ini = Files.readString(base.dir.resolve("start.d/itk.ini"));
        assertTrue(ini.contains("# jetty.itk.directory=${jetty.base}/itk"), ini);
        assertTrue(ini.contains("# jetty.itk.scanIntervalSeconds=1"), ini);
    }

    @Test
    @Order(2)
    public void testListConfigShowsJarsXmlAndProperties() throws Exception
    {
        // A user's setting, as uncommented in start.d/itk.ini.
        Path ini = base.dir.resolve("start.d/itk.ini");
        Files.writeString(ini, Files.readString(ini).replace("# jetty.itk.scanIntervalSeconds=1", "jetty.itk.scanIntervalSeconds=1"));

        String config = base.startJar(null, "--list-config");

        assertTrue(config.contains("jetty.itk.scanIntervalSeconds = 1"), config);
        assertTrue(config.contains("${jetty.base}/etc/jetty-itk.xml"), config);
        try (Stream<Path> jars = Stream.concat(Files.list(base.dir.resolve("lib/itk")), Files.list(base.dir.resolve("lib/http2"))))
        {
            for (Path jar : jars.toList())
            {
                String relative = "${jetty.base}/" + base.dir.relativize(jar);
                assertTrue(config.contains(relative), "every jar of the overlay is on the class path: " + relative + "\n" + config);
            }
        }
    }

    @Test
    @Order(3)
    public void testTenantsRunAsTheirUsers() throws Exception
    {
        Path whoami = JettyBase.itDirectory().resolve("whoami.war");
        Path aliceWar = base.tenant("alice", ALICE, whoami);
        bobWar = base.tenant("bob", BOB, whoami);
        base.writeVhost("alice.xml", JettyBase.vhostXml("alice.itk.test", ALICE, base.dir.relativize(aliceWar)));
        base.writeVhost("bob.xml", JettyBase.vhostXml("bob.itk.test", BOB, base.dir.relativize(bobWar)));
        // The WAR the project did not write, deployed directly in the front by jetty-home's own ee10-deploy.
        thirdPartyWar = thirdPartyWar();
        base.startJar(null, "--add-modules=ee10-deploy");
        Files.copy(thirdPartyWar, base.dir.resolve("webapps/swagger.war"));

        base.start("jetty.http.host=127.0.0.1", "jetty.http.port=" + port);

        String alice = clients.get(url("alice.itk.test", "/")).getContentAsString();
        assertTrue(alice.contains("Uid:\t43001\t43001\t43001\t43001"), alice);
        assertTrue(alice.contains("Gid:\t43001\t43001\t43001\t43001"), alice);
        assertTrue(alice.contains("vhost: alice.itk.test (http://alice.itk.test:" + port + ", secure=false, HTTP/1.1)"), alice);
        String bob = clients.get(url("bob.itk.test", "/")).getContentAsString();
        assertTrue(bob.contains("Uid:\t43002\t43002\t43002\t43002"), bob);
        Path bobSecret = bobWar.resolveSibling("secret.txt");
        // Without ?read the page tries each tenant's secret.txt, found beside its WAR.
        assertTrue(alice.contains("read " + aliceWar.resolveSibling("secret.txt") + ": READABLE (alice's secret)\nread " + bobSecret + ": denied\n"), alice);
        assertTrue(clients.get(url("alice.itk.test", "/?read=" + bobSecret)).getContentAsString().contains("read " + bobSecret + ": denied"));
        assertTrue(clients.get(url("bob.itk.test", "/?read=" + bobSecret)).getContentAsString().contains("READABLE (bob's secret)"));
        // Hosts no vhost names go on to the server's contexts.
        assertEquals(404, clients.get(url("127.0.0.1", "/")).getStatus());
        assertEquals(200, clients.get(url("127.0.0.1", "/swagger/" + SWAGGER + "/index.html")).getStatus());
    }

    /**
     * @return a WAR holding nothing but a third-party webjar: its static pages are served from the jar's
     * {@code META-INF/resources}, as the Servlet specification has containers do
     */
    private static Path thirdPartyWar() throws IOException
    {
        Path webjar = JettyBase.itDirectory().resolve("swagger-ui.jar");
        Path war = JettyBase.itDirectory().resolve("swagger.war");
        try (OutputStream file = Files.newOutputStream(war); JarOutputStream out = new JarOutputStream(file))
        {
            out.putNextEntry(new ZipEntry("WEB-INF/"));
            out.closeEntry();
            out.putNextEntry(new ZipEntry("WEB-INF/lib/"));
            out.closeEntry();
            out.putNextEntry(new ZipEntry("WEB-INF/lib/swagger-ui.jar"));
            Files.copy(webjar, out);
            out.closeEntry();
        }
        return war;
    }

    @Test
    @Order(4)
    public void testFileAddedWhileRunningIsServedAndAThirdPartyWarServesAsDeployedDirectly() throws Exception
    {
        Path carolWar = base.tenant("carol", CAROL, thirdPartyWar);
        base.writeVhost("carol.xml", JettyBase.vhostXml("carol.itk.test", CAROL, base.dir.relativize(carolWar)));
        base.awaitLog("itk vhost file " + base.dir.resolve("itk/carol.xml") + ": added vhost carol");

        for (String page : List.of("index.html", "swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "swagger-initializer.js"))
        {
            ContentResponse tenant = clients.get(url("carol.itk.test", "/" + SWAGGER + "/" + page));
            ContentResponse direct = clients.get(url("127.0.0.1", "/swagger/" + SWAGGER + "/" + page));
            assertEquals(200, direct.getStatus(), page);
            assertEquals(direct.getStatus(), tenant.getStatus(), page);
            assertEquals(direct.getHeaders().get("Content-Type"), tenant.getHeaders().get("Content-Type"), page);
            assertArrayEquals(direct.getContent(), tenant.getContent(), page);
        }
        assertEquals(404, clients.get(url("127.0.0.1", "/swagger/" + SWAGGER + "/no-such-page.html")).getStatus());
        assertEquals(404, clients.get(url("carol.itk.test", "/" + SWAGGER + "/no-such-page.html")).getStatus());
    }

    @Test
    @Order(5)
    public void testBrokenFilesAreLoggedAndTheRunningVhostsKeepServing() throws Exception
    {
        // Not well-formed XML: the log names the file and the line.
        base.writeVhost("dave.xml", """
            <?xml version="1.0"?>
            <Configure class="org.jettyitk.VirtualHost">
              <Set name="user">43004</Set>
            </Configur>
            """);
        base.awaitLog("itk vhost file " + base.dir.resolve("itk/dave.xml") + ": line 4, column ");
        // A definition the handler refuses (uid 0): bob keeps his previous definition.
        base.writeVhost("bob.xml", JettyBase.vhostXml("bob.itk.test", 0, base.dir.relativize(bobWar)));
        base.awaitLog("itk vhost file " + base.dir.resolve("itk/bob.xml") + ": vhost 'bob': ");
        assertTrue(base.logText().contains("; vhost bob keeps its previous definition"), base.logText());

        assertTrue(clients.get(url("bob.itk.test", "/")).getContentAsString().contains("Uid:\t43002\t43002\t43002\t43002"));
        assertTrue(clients.get(url("alice.itk.test", "/")).getContentAsString().contains("Uid:\t43001\t43001\t43001\t43001"));
        assertEquals(200, clients.get(url("carol.itk.test", "/" + SWAGGER + "/index.html")).getStatus());
    }

    @Test
    @Order(6)
    public void testChangedFileReplacesVhost() throws Exception
    {
        // Earlier tests visited alice already: this client has a session there.
        String session = visit(clients.get(url("alice.itk.test", "/")).getContentAsString());
        assertEquals(next(session), visit(clients.get(url("alice.itk.test", "/")).getContentAsString()));
        String xml = JettyBase.vhostXml("alice.itk.test", ALICE, base.dir.relativize(base.dir.resolve("tenants/alice/whoami.war")))
            .replace("<Set name=\"user\">", "<Call name=\"addHostName\"><Arg>www.alice.itk.test</Arg></Call>\n  <Set name=\"user\">");
        base.writeVhost("alice.xml", xml);
        base.awaitLog("itk vhost file " + base.dir.resolve("itk/alice.xml") + ": replaced vhost alice");

        String www = clients.get(url("www.alice.itk.test", "/")).getContentAsString();
        assertTrue(www.contains("Uid:\t43001\t43001\t43001\t43001"), www);
        assertTrue(www.contains("vhost: www.alice.itk.test"), www);
        // The replaced vhost's new worker goes on with the session the old one stored.
        assertEquals(next(next(session)), visit(clients.get(url("alice.itk.test", "/")).getContentAsString()));
    }

    /**
     * @return the whoami page's {@code visit N of session ID} line
     */
    private static String visit(String page)
    {
        return page.lines().filter(line -> line.startsWith("visit ")).findFirst()
            .orElseThrow(() -> new AssertionError("no 'visit N of session ID' line in " + page));
    }

    /**
     * @return the line of the next visit in the same session
     */
    private static String next(String visit)
    {
        String[] words = visit.split(" ", 3);
        return "visit " + (Integer.parseInt(words[1]) + 1) + " " + words[2];
    }

    @Test
    @Order(7)
    public void testRemovedFileRemovesVhost() throws Exception
    {
        Files.delete(base.dir.resolve("itk/carol.xml"));
        base.awaitLog("itk vhost file " + base.dir.resolve("itk/carol.xml") + ": removed vhost carol");

        await().atMost(JettyBase.TIMEOUT).until(() -> clients.get(url("carol.itk.test", "/" + SWAGGER + "/index.html")).getStatus() == 404);
        assertEquals(200, clients.get(url("alice.itk.test", "/")).getStatus());
    }

    @Test
    @Order(8)
    public void testStopLeavesNoWorker() throws Exception
    {
        workers = base.process().descendants().filter(ProcessHandle::isAlive).toList();
        assertTrue(workers.size() >= 2, "workers of alice and bob: " + workers);
        for (ProcessHandle worker : workers)
        {
            assertTrue(worker.info().user().map(user -> user.startsWith("4300")).orElse(true), "a worker runs as a tenant: " + worker.info());
        }

        base.stop();

        await().atMost(Duration.ofSeconds(30)).until(() -> workers.stream().noneMatch(ProcessHandle::isAlive));
        assertTrue(base.logText().contains("worker exited vhost=alice"), base.logText());
    }
}
