package org.jettyitk.distribution;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.eclipse.jetty.client.CompletableResponseListener;
import org.eclipse.jetty.client.ContentResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>Stopping the server as an init system does (SIGTERM), through the module path with {@code http,itk} and
 * jetty-home's {@code graceful} module: a request in flight on a worker finishes within
 * {@code jetty.server.stopTimeout}, then the workers stop and none is left.</p>
 */
public class GracefulStopIT
{
    private static final int TENANT = 43201;
    private static final String HOST = "graceful.itk.test";

    private JettyBase base;
    private Clients clients;

    @BeforeEach
    public void createBase() throws Exception
    {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
            "the front must run as root to start workers as other users (run the build as root)");
        base = JettyBase.create("base-graceful");
        clients = new Clients();
    }

    @AfterEach
    public void dispose()
    {
        if (clients != null)
            clients.close();
        if (base != null)
            base.close();
    }

    @Test
    public void testSigtermLetsRequestsInFlightFinish() throws Exception
    {
        // jetty-home's graceful module sets jetty.server.stopTimeout; without it a base stops at once (sto=0), as a
        // plain one does.
        base.startJar(null, "--approve-all-licenses", "--add-modules=http,itk,graceful");
        Path war = base.tenant("graceful", TENANT, JettyBase.itDirectory().resolve("fidelity.war"));
        base.writeVhost("graceful.xml", JettyBase.vhostXml(HOST, TENANT, base.dir.relativize(war)));
        int port = JettyBase.freePort();
        base.start("jetty.http.host=127.0.0.1", "jetty.http.port=" + port, "jetty.server.stopTimeout=20000", "jetty.itk.statusPath=/itk-status");
        String url = "http://" + HOST + ":" + port;
        // A worker is up, and its pid known.
        ContentResponse pid = clients.get(url + "/pid");
        assertEquals(200, pid.getStatus(), pid::getContentAsString);
        List<ProcessHandle> workers = base.process().descendants().filter(p -> p.info().command().orElse("").endsWith("java")).toList();
        assertTrue(!workers.isEmpty(), "no worker under the front");

        // An async response that completes 3 s from now, then SIGTERM while it is in flight.
        CompletableFuture<ContentResponse> inFlight = new CompletableResponseListener(clients.request(clients.http1, url + "/async?delayMs=3000")).send();
        // In flight on the worker, as the status page says.
        await().atMost(JettyBase.TIMEOUT).until(() -> clients.get("http://127.0.0.1:" + port + "/itk-status").getContentAsString().contains("\"inFlight\":1"));
        int status = base.stop();

        ContentResponse response = inFlight.get(Clients.TIMEOUT_SECONDS, TimeUnit.SECONDS);
        assertEquals(200, response.getStatus(), response::getContentAsString);
        assertTrue(status == 0 || status == 143, "Jetty's exit status " + status);
        for (ProcessHandle worker : workers)
        {
            await().atMost(JettyBase.TIMEOUT).until(() -> !worker.isAlive());
        }
    }
}
