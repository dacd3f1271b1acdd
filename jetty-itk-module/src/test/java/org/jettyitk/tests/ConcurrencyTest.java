package org.jettyitk.tests;

import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.SequenceInputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.eclipse.jetty.client.CompletableResponseListener;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.jettyitk.VirtualHost;
import org.jettyitk.tests.ItkTestServer.RawResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.jettyitk.tests.ItkTestServer.ALICE;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * <p>One worker carries many requests at once, and one slow client stalls only its own stream.</p>
 */
public class ConcurrencyTest
{
    private static final int CONCURRENT_REQUESTS = 200;
    private static final int OTHER_REQUESTS = 20;
    /** Far more than every buffer between the worker and a stalled client: the worker's stream must block. */
    private static final int STALLED_LENGTH = 32 * 1024 * 1024;

    private static ItkTestServer front;
    private static VirtualHost alice;

    @BeforeAll
    public static void start() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: the worker runs as numeric uid 41001");
        front = new ItkTestServer();
        alice = front.addTestApp("alice", ALICE);
        // Enough connections that the HTTP/1.1 half of the requests really is concurrent at the front.
        front.http1.setMaxConnectionsPerDestination(CONCURRENT_REQUESTS);
        front.start();
        // The worker is spawned here, so that the tests see only requests to a ready worker.
        assertEquals(200, front.get(front.http1, "alice.test", "/pid").getStatus());
    }

    @AfterAll
    public static void stop() throws Exception
    {
        if (front != null)
            front.close();
    }

    private static CompletableFuture<ContentResponse> send(HttpClient client, String pathQuery)
    {
        return new CompletableResponseListener(front.request(client, "alice.test", pathQuery), 4 * 1024 * 1024).send();
    }

    @Test
    public void testManyConcurrentRequestsOnOneWorker() throws Exception
    {
        List<CompletableFuture<ContentResponse>> responses = new ArrayList<>();
        for (int i = 0; i < CONCURRENT_REQUESTS; i++)
        {
            // Half over HTTP/1.1 (one connection each), half multiplexed over HTTP/2.
            responses.add(send(i % 2 == 0 ? front.http1 : front.http2, "/sleep?ms=300"));
        }
        for (CompletableFuture<ContentResponse> future : responses)
        {
            ContentResponse response = future.get(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
            assertEquals(200, response.getStatus(), response::getContentAsString);
            assertEquals("slept\n", response.getContentAsString());
        }
        assertEquals(1, front.itk.getWorkerPool(alice).getSpawned());
        assertEquals(1, front.itk.getWorkerPool(alice).getWorkerCount());
    }

    @Test
    public void testSlowClientDoesNotDelayOtherRequests() throws Exception
    {
        try (Socket slow = new Socket())
        {
            // A small receive window: the kernel buffers little, so the stall reaches the front and the worker.
            slow.setReceiveBufferSize(4096);
            slow.setSoTimeout(ItkTestServer.TIMEOUT_SECONDS * 1000);
            slow.connect(new InetSocketAddress("127.0.0.1", front.port()));
            OutputStream out = slow.getOutputStream();
            out.write("""
                GET /bytes?n=%d HTTP/1.1\r
                Host: alice.test\r
                Connection: close\r
                \r
                """.formatted(STALLED_LENGTH).getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            InputStream in = slow.getInputStream();
            byte[] prefix = in.readNBytes(1024);
            // Give the response time to fill every window and buffer: then its worker stream is blocked.
            Thread.sleep(1000);

            List<CompletableFuture<ContentResponse>> others = new ArrayList<>();
            for (int i = 0; i < OTHER_REQUESTS; i++)
            {
                others.add(send(i % 2 == 0 ? front.http1 : front.http2, "/bytes?n=100000"));
            }
            String expected = TestApp.sha256(TestApp.generated(100_000));
            for (CompletableFuture<ContentResponse> future : others)
            {
                ContentResponse response = future.get(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
                assertEquals(200, response.getStatus());
                assertEquals(expected, TestApp.sha256(response.getContent()));
            }

            // The stalled response then completes intact.
            InputStream rest = new BufferedInputStream(new SequenceInputStream(new ByteArrayInputStream(prefix), in));
            RawResponse response = RawResponse.read(rest, false);
            assertEquals(200, response.status());
            assertEquals(TestApp.sha256(TestApp.generated(STALLED_LENGTH)), TestApp.sha256(response.body()));
        }
        assertEquals(1, front.itk.getWorkerPool(alice).getSpawned());
    }
}
