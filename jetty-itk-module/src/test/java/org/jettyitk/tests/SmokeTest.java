package org.jettyitk.tests;

import org.eclipse.jetty.client.ContentResponse;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

public class SmokeTest
{
    @Test
    public void testWhoAmI() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: workers run as numeric uids 41001, 41002");
        try (ItkTestServer front = new ItkTestServer())
        {
            front.addTestApp("alice", ItkTestServer.ALICE);

            front.start();
            ContentResponse response = front.get(front.http1, "alice.test", "/whoami");
            System.err.println(response.getContentAsString());
            assertEquals(200, response.getStatus());
            assertTrue(response.getContentAsString().contains("Uid:\t41001\t41001\t41001\t41001"));
            response = front.get(front.http2, "alice.test", "/info?a=1");
            System.err.println(response.getContentAsString());
        }
    }
}
