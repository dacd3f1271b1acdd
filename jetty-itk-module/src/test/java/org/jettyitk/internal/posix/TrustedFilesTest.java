package org.jettyitk.internal.posix;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs as any user: the trusted owner is root or this process's user, and the modes decide.
 */
public class TrustedFilesTest
{
    private Path root;

    @BeforeEach
    public void init() throws IOException
    {
        root = Files.createTempDirectory("itk-trusted-").toRealPath();
        Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @AfterEach
    public void dispose() throws IOException
    {
        try (Stream<Path> tree = Files.walk(root))
        {
            for (Path path : tree.sorted(Comparator.reverseOrder()).toList())
            {
                Files.deleteIfExists(path);
            }
        }
    }

    @Test
    public void testOwnFileInOwnDirectoriesIsTrusted() throws Exception
    {
        Path file = Files.writeString(root.resolve("file"), "x");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));

        assertEquals(file, TrustedFiles.check(file));
    }

    @Test
    public void testDirectoryOthersCanWriteOnTheWayIsRefused() throws Exception
    {
        Path open = Files.createDirectory(root.resolve("open"));
        Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxrwxr-x"));
        Path file = Files.writeString(open.resolve("file"), "x");

        IOException x = assertThrows(IOException.class, () -> TrustedFiles.check(file));

        assertEquals(open + " is writable by others than its owner (mode 0775)", x.getMessage());
    }

    @Test
    public void testStickyDirectoryOnTheWayIsAllowedButNotAtTheEnd() throws Exception
    {
        Path sticky = Files.createDirectory(root.resolve("sticky"));
        Files.setAttribute(sticky, "unix:mode", 01777);
        Path file = Files.writeString(sticky.resolve("file"), "x");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));

        assertEquals(file, TrustedFiles.check(file));
        IOException x = assertThrows(IOException.class, () -> TrustedFiles.check(sticky));
        assertEquals(sticky + " is writable by others than its owner (mode 01777)", x.getMessage());
    }

    /**
     * A link in a trusted directory to a place where others can write: the place is checked, not only the link.
     */
    @Test
    public void testLinkTargetIsChecked() throws Exception
    {
        Path open = Files.createDirectory(root.resolve("open"));
        Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxrwxrwx"));
        Files.writeString(open.resolve("file"), "x");
        Path link = Files.createSymbolicLink(root.resolve("link"), open);

        IOException x = assertThrows(IOException.class, () -> TrustedFiles.check(link.resolve("file")));

        assertEquals(open + " is writable by others than its owner (mode 0777)", x.getMessage());
    }

    /**
     * A path through a link whose directory others can write: the link may change after any check of its target.
     */
    @Test
    public void testLinkInDirectoryOthersCanWriteIsRefusedEvenToTrustedTarget() throws Exception
    {
        Path safe = Files.createDirectory(root.resolve("safe"));
        Path open = Files.createDirectory(root.resolve("open"));
        Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxrwxrwx"));
        Path link = Files.createSymbolicLink(open.resolve("link"), safe);

        IOException x = assertThrows(IOException.class, () -> TrustedFiles.check(link));

        assertEquals(open + " is writable by others than its owner (mode 0777)", x.getMessage());
    }

    @Test
    public void testDotDotIsResolvedAfterLinks() throws Exception
    {
        Path deep = Files.createDirectories(root.resolve("a/b"));
        Path link = Files.createSymbolicLink(root.resolve("link"), deep);
        Path file = Files.writeString(root.resolve("a/file"), "x");

        assertEquals(file, TrustedFiles.check(link.resolve("../file")));
    }

    @Test
    public void testTreeWithLinkOrWritableFileIsRefused() throws Exception
    {
        Path tree = Files.createDirectory(root.resolve("tree"));
        Path inner = Files.writeString(tree.resolve("inner"), "x");
        Files.setPosixFilePermissions(inner, PosixFilePermissions.fromString("rw-r--r--"));
        assertEquals(tree, TrustedFiles.checkTree(tree));

        Files.setPosixFilePermissions(inner, PosixFilePermissions.fromString("rw-rw-r--"));
        IOException writable = assertThrows(IOException.class, () -> TrustedFiles.checkTree(tree));
        assertEquals(inner + " is writable by others than its owner (mode 0664)", writable.getMessage());

        Files.setPosixFilePermissions(inner, PosixFilePermissions.fromString("rw-r--r--"));
        Path link = Files.createSymbolicLink(tree.resolve("link"), inner);
        IOException linked = assertThrows(IOException.class, () -> TrustedFiles.checkTree(tree));
        assertEquals(link + " is a symbolic link", linked.getMessage());
    }

    @Test
    public void testCreateDirectoriesChecksBeforeCreating() throws Exception
    {
        Path open = Files.createDirectory(root.resolve("open"));
        Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxrwxrwx"));

        assertThrows(IOException.class, () -> TrustedFiles.createDirectories(open.resolve("a/b")));
        assertTrue(Files.notExists(open.resolve("a")));
        assertEquals(root.resolve("c/d"), TrustedFiles.createDirectories(root.resolve("c/d")));
    }
}
