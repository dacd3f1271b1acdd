package org.jettyitk.tests;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.eclipse.jetty.client.CompletableResponseListener;
import org.eclipse.jetty.client.ContentResponse;
import org.jettyitk.VirtualHost;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.jettyitk.tests.ItkTestServer.ALICE;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * <p>Whatever tenant code writes to {@code System.out}, {@code System.err} or file descriptor 1, even bytes that
 * look like HTTP/2, stays out of the worker's protocol pipe: the worker keeps serving.</p>
 */
public class TenantOutputTest
{
    private static final int LENGTH = 4 * 1024 * 1024;

    private static ItkTestServer front;
    private static VirtualHost alice;

    @BeforeAll
    public static void start() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: the worker runs as numeric uid 41001");
        front = new ItkTestServer();
        alice = front.addTestApp("alice", ALICE);
        front.start();
    }

    @AfterAll
    public static void stop() throws Exception
    {
        if (front != null)
            front.close();
    }

    private static String pid() throws Exception
    {
        ContentResponse response = front.get(front.http1, "alice.test", "/pid");
        assertEquals(200, response.getStatus(), response::getContentAsString);
        return ItkTestServer.lines(response.getContentAsString()).get("pid");
    }

    private static void print() throws Exception
    {
        ContentResponse response = front.get(front.http2, "alice.test", "/print");
        assertEquals(200, response.getStatus(), response::getContentAsString);
        assertEquals("printed\n", response.getContentAsString());
    }

    @Test
    public void testWorkerSurvivesTenantOutput() throws Exception
    {
        String pid = pid();
        print();
        for (int i = 0; i < 5; i++)
        {
            assertEquals(pid, pid(), "request " + i + " after /print");
        }
        assertEquals(1, front.itk.getWorkerPool(alice).getSpawned());
    }

    @Test
    public void testTenantOutputDuringTransferDoesNotCorruptIt() throws Exception
    {
        // A transfer in flight on the same pipe while the tenant prints: one stray byte in the pipe would break it.
        CompletableFuture<ContentResponse> transfer = new CompletableResponseListener(
            front.request(front.http2, "alice.test", "/bytes?n=" + LENGTH + "&flush=1"), LENGTH).send();
        print();
        ContentResponse response = transfer.get(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
        assertEquals(200, response.getStatus());
        assertEquals(TestApp.sha256(TestApp.generated(LENGTH)), TestApp.sha256(response.getContent()));
        ContentResponse after = front.get(front.http1, "alice.test", "/bytes?n=100000&length=1");
        assertEquals(TestApp.sha256(TestApp.generated(100_000)), TestApp.sha256(after.getContent()));
        assertEquals(1, front.itk.getWorkerPool(alice).getSpawned());
    }
}
