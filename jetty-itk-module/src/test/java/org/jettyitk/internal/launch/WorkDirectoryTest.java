package org.jettyitk.internal.launch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import org.jettyitk.internal.posix.Posix;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

public class WorkDirectoryTest
{
    @Test
    public void testHomeNameKeepsPlainNames()
    {
        assertEquals("vhost-alice.example-1", WorkDirectory.homeName("alice.example-1"));
    }

    @Test
    public void testHomeNameEscapesEveryOtherByte()
    {
        assertEquals("vhost-a_20b", WorkDirectory.homeName("a b"));
        assertEquals("vhost-a_5fb", WorkDirectory.homeName("a_b"));
        assertEquals("vhost-_2f..", WorkDirectory.homeName("/.."));
        assertEquals("vhost-caf_c3_a9", WorkDirectory.homeName("caf\u00e9"));
    }

    /**
     * Seeded: names over a small alphabet that holds the escape character, so that collisions would show.
     */
    @Test
    public void testHomeNameIsInjective()
    {
        long seed = new Random().nextLong();
        Random random = new Random(seed);
        List<Character> alphabet = List.of('a', '_', ' ', '5', 'f', '2', '0', '.', '-', '/');
        Map<String, String> names = new HashMap<>();
        for (int i = 0; i < 20000; i++)
        {
            StringBuilder name = new StringBuilder();
            int length = 1 + random.nextInt(6);
            for (int j = 0; j < length; j++)
            {
                name.append(alphabet.get(random.nextInt(alphabet.size())));
            }
            String home = WorkDirectory.homeName(name.toString());
            String previous = names.putIfAbsent(home, name.toString());
            assertTrue(previous == null || previous.equals(name.toString()), () -> "seed " + seed + ": '" + previous + "' and '" + name + "' both map to " + home);
            assertTrue(home.matches("vhost-[A-Za-z0-9._-]+"), home);
        }
    }

    /**
     * A lasting work directory keeps what a start made for itself only until the next start: the staged class path
     * (never deleted at stop) and the class-data archive of a front that was killed. Tenants' HOMEs, a link and a
     * directory root did not make are left as they are.
     */
    @Test
    public void testNextStartDeletesWhatAnEarlierStartLeftInALastingDirectory() throws Exception
    {
        Assumptions.assumeTrue(isRoot(), "needs root: a work directory is root's, with a HOME of uid 41001");
        Path parent = Files.createTempDirectory("itk-work-test-");
        try
        {
            Path lasting = parent.resolve("work");
            WorkDirectory.open(lasting);
            Path archive = Files.createTempDirectory(lasting, WorkDirectory.CLASS_ARCHIVE_PREFIX);
            Files.createDirectories(archive.resolve("training/tmp"));
            Files.writeString(archive.resolve("worker.jsa"), "archive");
            Path staged = Files.createTempDirectory(lasting, WorkDirectory.CLASS_PATH_PREFIX);
            Files.createDirectory(staged.resolve("0-resources"));
            Files.writeString(staged.resolve("0-resources/jetty-logging.properties"), "properties");
            Path home = Files.createDirectory(lasting.resolve(WorkDirectory.homeName("alice")));
            Path session = Files.writeString(home.resolve("session"), "a tenant's");
            chown(home, 41001);
            chown(session, 41001);
            Path outside = Files.createDirectory(parent.resolve("outside"));
            Path kept = Files.writeString(outside.resolve("kept"), "not the front's");
            Path link = Files.createSymbolicLink(lasting.resolve(WorkDirectory.CLASS_PATH_PREFIX + "link"), outside);
            Path foreign = Files.createDirectory(lasting.resolve(WorkDirectory.CLASS_ARCHIVE_PREFIX + "foreign"));
            chown(foreign, 41001);

            WorkDirectory next = WorkDirectory.open(lasting);
            next.deleteLeftovers();

            assertFalse(Files.exists(archive, LinkOption.NOFOLLOW_LINKS), archive.toString());
            assertFalse(Files.exists(staged, LinkOption.NOFOLLOW_LINKS), staged.toString());
            assertEquals("a tenant's", Files.readString(session));
            assertTrue(Files.isSymbolicLink(link), link.toString());
            assertEquals("not the front's", Files.readString(kept));
            assertTrue(Files.isDirectory(foreign, LinkOption.NOFOLLOW_LINKS), foreign.toString());
        }
        finally
        {
            try (Stream<Path> tree = Files.walk(parent))
            {
                for (Path path : tree.sorted(Comparator.reverseOrder()).toList())
                {
                    Files.deleteIfExists(path);
                }
            }
        }
    }

    private static boolean isRoot()
    {
        try
        {
            return Posix.get().geteuid() == 0;
        }
        catch (IOException x)
        {
            return false;
        }
    }

    private static void chown(Path path, int id) throws Exception
    {
        Files.setAttribute(path, "unix:uid", id, LinkOption.NOFOLLOW_LINKS);
        Files.setAttribute(path, "unix:gid", id, LinkOption.NOFOLLOW_LINKS);
    }
}
