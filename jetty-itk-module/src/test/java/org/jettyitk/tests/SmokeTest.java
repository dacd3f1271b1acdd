package org.jettyitk.tests;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import jnr.constants.platform.OpenFlags;
import jnr.posix.POSIX;
import jnr.posix.POSIXFactory;
import org.eclipse.jetty.client.ContentResponse;
import org.jettyitk.internal.posix.Posix;
import org.jettyitk.internal.wire.Wire;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.awaitility.Awaitility.await;
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

    @Test
    public void testProtocolPipesHaveTheirCapacity() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: workers run as numeric uid 41001");
        // The front, as root, sets it whatever pipe-max-size and pipe-user-pages-soft say.
        int expected = Wire.PIPE_CAPACITY;
        try (ItkTestServer front = new ItkTestServer())
        {
            Path fds = Path.of("/proc", Long.toString(startWorker(front)), "fd");
            // stdin is the front's requests; the one pipe that is neither stdin nor stderr carries the responses.
            String stdin = Files.readSymbolicLink(fds.resolve("0")).toString();
            String stderr = Files.readSymbolicLink(fds.resolve("2")).toString();
            List<String> protocol = new ArrayList<>();
            try (var entries = Files.list(fds))
            {
                for (Path fd : entries.toList())
                {
                    String target = linkOf(fd);
                    if (target.startsWith("pipe:") && !target.equals(stdin) && !target.equals(stderr))
                        protocol.add(fd.getFileName().toString());
                }
            }
            assertEquals(1, protocol.size(), () -> "response pipes: " + protocol);
            assertEquals(expected, capacity(fds.resolve("0")));
            assertEquals(expected, capacity(fds.resolve(protocol.get(0))));
        }
    }

    @Test
    public void testFrontClosesItsDirectDescriptorOfTheWorkersStdin() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: workers run as numeric uid 41001");
        String stdin;
        try (ItkTestServer front = new ItkTestServer())
        {
            long pid = startWorker(front);
            stdin = Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "fd", "0")).toString();

            // Process's stream, and the non-blocking description the front's threads write to.
            assertEquals(2, descriptorsOf(stdin), "front descriptors of the worker's stdin " + stdin);
        }
        // The pipe's writer thread closes them once the worker has gone.
        await().atMost(10, SECONDS).untilAsserted(() -> assertEquals(0, descriptorsOf(stdin), "descriptors left open after the worker stopped"));
    }

    /**
     * @return the pid of the worker of vhost alice.test, started by a first request
     */
    private static long startWorker(ItkTestServer front) throws Exception
    {
        front.addTestApp("alice", ItkTestServer.ALICE);
        front.start();
        assertEquals(200, front.get(front.http1, "alice.test", "/whoami").getStatus());
        return front.workers().findFirst().orElseThrow().pid();
    }

    private static long descriptorsOf(String pipe) throws Exception
    {
        try (var entries = Files.list(Path.of("/proc/self/fd")))
        {
            return entries.filter(fd -> linkOf(fd).equals(pipe)).count();
        }
    }

    /**
     * @return what a {@code /proc/PID/fd} entry points to, or "" for a descriptor closed while listed
     */
    private static String linkOf(Path fd)
    {
        try
        {
            return Files.readSymbolicLink(fd).toString();
        }
        catch (IOException x)
        {
            return "";
        }
    }

    private static int capacity(Path procFd) throws Exception
    {
        // Opening /proc/PID/fd/N gives this JVM its own descriptor of the worker's pipe, without reading from it.
        POSIX posix = POSIXFactory.getNativePOSIX();
        int fd = posix.open(procFd.toString(), OpenFlags.O_RDONLY.intValue() | OpenFlags.O_NONBLOCK.intValue(), 0);
        assertTrue(fd >= 0, () -> "open " + procFd + ": errno " + posix.errno());
        try
        {
            return Posix.get().pipeCapacity(fd);
        }
        finally
        {
            posix.close(fd);
        }
    }
}
