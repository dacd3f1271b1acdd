package org.jettyitk.internal.posix;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.Arrays;

import jnr.constants.platform.RLIMIT;
import jnr.posix.FileStat;
import jnr.posix.POSIX;
import jnr.posix.POSIXFactory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Calls that change nothing in the test JVM: lookups, reads, and calls that must fail.
 */
public class PosixTest
{
    private static Posix posix;

    @BeforeAll
    public static void beforeAll() throws Exception
    {
        posix = Posix.get();
    }

    @Test
    public void testFailureNamesCallArgumentsAndErrno()
    {
        // A soft limit above the hard one is EINVAL for anyone, root included: nothing changes.
        int nofile = RLIMIT.RLIMIT_NOFILE.intValue();
        IOException x = assertThrows(IOException.class, () -> posix.setrlimit(nofile, 10, 5));

        assertEquals("setrlimit(RLIMIT_NOFILE,10,5) failed: EINVAL (Invalid argument)", x.getMessage());
    }

    @Test
    public void testUnknownErrnoIsReportedByNumber()
    {
        assertEquals("errno 9999", Posix.errnoText(9999));
    }

    @Test
    public void testGetresuidAgreesWithGetuid() throws Exception
    {
        assertArrayEquals(new int[]{posix.getuid(), posix.geteuid(), posix.getresuid()[2]}, posix.getresuid());
    }

    @Test
    public void testGetresgidAgreesWithGetgid() throws Exception
    {
        assertArrayEquals(new int[]{posix.getgid(), posix.getegid(), posix.getresgid()[2]}, posix.getresgid());
    }

    @Test
    public void testGetgroupsIsSortedWithoutDuplicates() throws Exception
    {
        int[] groups = posix.getgroups();

        assertArrayEquals(Posix.sortedDistinct(groups), groups);
    }

    @Test
    public void testLookupsOfNobody()
    {
        assertEquals(65534, posix.uidOf("nobody").orElseThrow());
        assertEquals("nobody", posix.userName(65534).orElseThrow());
        assertTrue(posix.primaryGidOf("nobody").isPresent());
        assertTrue(posix.homeOf("nobody").isPresent());
    }

    @Test
    public void testUnknownNamesAreEmpty()
    {
        assertFalse(posix.uidOf("nosuchuser").isPresent());
        assertFalse(posix.gidOf("nosuchgroup").isPresent());
        assertFalse(posix.userName(41001).isPresent());
    }

    @Test
    public void testNameWithNulIsUnknown()
    {
        // C would read "nobody" and answer for another name than the one configured.
        assertFalse(posix.uidOf("nobody\0root").isPresent());
    }

    @Test
    public void testGroupListAlwaysContainsPrimaryGid()
    {
        int[] groups = posix.groupListOf("nobody", 41007);

        assertTrue(Arrays.stream(groups).anyMatch(gid -> gid == 41007));
    }

    @Test
    public void testGroupListGrowsItsBuffer()
    {
        // A zero-sized buffer makes getgrouplist report the size it needs.
        assertArrayEquals(posix.groupListOf("nobody", 41007), posix.groupListOf("nobody", 41007, 0));
    }

    @Test
    public void testPipeCapacityIsRaised() throws Exception
    {
        try (Pipe pipe = Pipe.open())
        {
            // Not over the limit of an unprivileged process, so the test means the same as root or not.
            int capacity = Math.min(1024 * 1024, Integer.parseInt(Files.readAllLines(Path.of("/proc/sys/fs/pipe-max-size")).get(0).trim()));
            assertEquals(capacity, posix.setPipeCapacity(pipe.write(), capacity));
            assertEquals(capacity, posix.pipeCapacity(pipe.read()));
        }
    }

    @Test
    public void testPipeQueuedCountsUnreadBytesFromEitherEnd() throws Exception
    {
        try (Pipe pipe = Pipe.open())
        {
            assertEquals(0, posix.pipeQueued(pipe.write()));
            assertEquals(10, pipe.posix().write(pipe.write(), new byte[10], 10));
            assertEquals(10, posix.pipeQueued(pipe.write()));
            assertEquals(4, pipe.posix().read(pipe.read(), new byte[4], 4));
            assertEquals(6, posix.pipeQueued(pipe.write()));
            assertEquals(6, posix.pipeQueued(pipe.read()));
        }
    }

    @Test
    public void testPipeCapacityOfAClosedDescriptorFails()
    {
        IOException x = assertThrows(IOException.class, () -> posix.pipeCapacity(-1));

        assertEquals("fcntl(-1,F_GETPIPE_SZ) failed: EBADF (Bad file descriptor)", x.getMessage());
    }

    @Test
    public void testNonBlockingWriteTakesWhatFitsAndNeverBlocks() throws Exception
    {
        try (Pipe pipe = Pipe.open())
        {
            // A description of its own: the pipe's write end stays blocking.
            int fd = posix.openPipeNonBlockingForWrite(Path.of("/proc/self/fd/" + pipe.write()));
            try
            {
                int capacity = posix.pipeCapacity(fd);
                ByteBuffer bytes = ByteBuffer.allocateDirect(capacity + 1000);

                assertEquals(capacity, posix.writeNonBlocking(fd, bytes));
                assertEquals(capacity, bytes.position());
                assertEquals(0, posix.writeNonBlocking(fd, bytes));
                assertEquals(capacity, posix.pipeQueued(pipe.read()));
            }
            finally
            {
                posix.close(fd);
            }
        }
    }

    @Test
    public void testOpenPipeRefusesWhatIsNoPipe()
    {
        IOException x = assertThrows(IOException.class, () -> posix.openPipeNonBlockingForWrite(Path.of("/dev/null")));

        assertEquals("/dev/null is not a pipe", x.getMessage());
    }

    /**
     * A pipe of this process, made with jnr-posix directly, for the calls under test.
     */
    private record Pipe(POSIX posix, int read, int write) implements AutoCloseable
    {
        static Pipe open()
        {
            POSIX posix = POSIXFactory.getNativePOSIX();
            int[] ends = new int[2];
            assertEquals(0, posix.pipe(ends));
            return new Pipe(posix, ends[0], ends[1]);
        }

        @Override
        public void close()
        {
            posix.close(read);
            posix.close(write);
        }
    }
    @Test
    public void testAtCallsActOnNamesOfTheOpenDirectoryWithoutFollowingLinks() throws Exception
    {
        Path root = Files.createTempDirectory("itk-posix-at-");
        Path elsewhere = Files.createDirectory(root.resolve("elsewhere"));
        Path target = Files.writeString(elsewhere.resolve("target.txt"), "kept\n");
        Path directory = Files.createDirectory(root.resolve("directory"));
        Files.createSymbolicLink(directory.resolve("link"), elsewhere);
        Files.createSymbolicLink(directory.resolve("file-link"), target);
        int fd = posix.openDirectory(directory);
        try
        {
            assertThrows(NotDirectoryException.class, () -> posix.openDirectoryAt(fd, "link"));
            assertThrows(NoSuchFileException.class, () -> posix.openDirectoryAt(fd, "missing"));
            IOException appendThroughLink = assertThrows(IOException.class, () -> posix.openForAppendAt(fd, "file-link", 0600));
            assertTrue(appendThroughLink.getMessage().contains("ELOOP"), appendThroughLink.getMessage());

            assertTrue(posix.mkdirAt(fd, "made", 0700));
            assertFalse(posix.mkdirAt(fd, "made", 0700));
            int made = posix.openDirectoryAt(fd, "made");
            FileStat stat = posix.fstat(made);
            posix.close(made);
            assertTrue(stat.isDirectory());
            assertEquals(0700, stat.mode() & 07777);

            int file = posix.openForAppendAt(fd, "log", 0600);
            posix.write(file, "one\n".getBytes());
            posix.close(file);
            posix.renameAt(fd, "log", "log.1");
            assertEquals("one\n", Files.readString(directory.resolve("log.1")));

            posix.unlinkAt(fd, "link", false);
            posix.unlinkAt(fd, "file-link", false);
            posix.unlinkAt(fd, "made", true);
            posix.unlinkAt(fd, "log.1", false);
            assertEquals(java.util.List.of(), posix.list(fd));
            assertTrue(Files.exists(target, LinkOption.NOFOLLOW_LINKS), "a link's target is never removed");
        }
        finally
        {
            posix.close(fd);
            Files.delete(target);
            Files.delete(elsewhere);
            Files.delete(directory);
            Files.delete(root);
        }
    }
}
