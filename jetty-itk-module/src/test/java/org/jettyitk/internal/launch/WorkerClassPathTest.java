package org.jettyitk.internal.launch;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.stream.Stream;

import org.jettyitk.tests.ItkTestServer;
import org.jettyitk.tests.Tenant;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.jettyitk.tests.ItkTestServer.ALICE;
import static org.jettyitk.tests.ItkTestServer.BOB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>The worker class path: root runs it (the class-data training JVM) and every tenant's worker loads it, so an
 * entry a tenant could change is left out; and what root copies for the tenants to read is never more readable
 * than the original.</p>
 */
public class WorkerClassPathTest
{
    private Path root;

    @BeforeEach
    public void init() throws IOException
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: files are chowned to uid 41001 and read as uid 41002");
        root = Files.createTempDirectory("itk-classpath-test-");
        Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @AfterEach
    public void dispose() throws IOException
    {
        if (root == null)
            return;
        try (Stream<Path> tree = Files.walk(root))
        {
            for (Path path : tree.sorted(Comparator.reverseOrder()).toList())
            {
                Files.deleteIfExists(path);
            }
        }
    }

    private static Path file(Path path, String mode) throws IOException
    {
        Files.createDirectories(path.getParent());
        Files.writeString(path, path.getFileName() + "\n");
        Files.setPosixFilePermissions(path, PosixFilePermissions.fromString(mode));
        return path;
    }

    /**
     * A directory on the front's class path, in a directory tenants cannot traverse, holds a file only root may
     * read: its copy for the workers used to be 0644.
     */
    @Test
    public void testCopyIsNoMoreReadableThanItsOriginal() throws Exception
    {
        Path hidden = Files.createDirectory(root.resolve("hidden"));
        Files.setPosixFilePermissions(hidden, PosixFilePermissions.fromString("rwx------"));
        Path classes = Files.createDirectory(hidden.resolve("classes"));
        Files.setPosixFilePermissions(classes, PosixFilePermissions.fromString("rwxr-xr-x"));
        file(classes.resolve("public.txt"), "rw-r--r--");
        file(classes.resolve("secret.txt"), "rw-------");
        Path staging = Files.createDirectory(root.resolve("work"));
        Files.setPosixFilePermissions(staging, PosixFilePermissions.fromString("rwx--x--x"));

        Path copy = Path.of(WorkerClassPath.readableByAll(classes.toString(), staging));

        assertNotEquals(classes, copy, "a directory tenants cannot reach is copied");
        Tenant.Result publicFile = Tenant.run(BOB, "cat '" + copy.resolve("public.txt") + "'");
        assertEquals(0, publicFile.status(), publicFile.output());
        Tenant.Result secretFile = Tenant.run(BOB, "cat '" + copy.resolve("secret.txt") + "'");
        assertNotEquals(0, secretFile.status(), secretFile.output());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(copy.resolve("secret.txt"))));
    }

    /**
     * Entries a tenant can write (a jar it owns, a jar its group may write, a directory holding a file it owns), or
     * that are missing, are left out; a trusted jar stays.
     */
    @Test
    public void testEntriesTenantsCanWriteOrMissingAreLeftOut() throws Exception
    {
        Path good = file(root.resolve("lib/good.jar"), "rw-r--r--");
        Path owned = file(root.resolve("lib/owned.jar"), "rw-r--r--");
        ItkTestServer.chown(owned, ALICE);
        Path groupWritable = file(root.resolve("lib/group.jar"), "rw-rw-r--");
        Path classes = Files.createDirectory(root.resolve("classes"));
        Files.setPosixFilePermissions(classes, PosixFilePermissions.fromString("rwxr-xr-x"));
        ItkTestServer.chown(file(classes.resolve("Planted.class"), "rw-r--r--"), ALICE);
        Path missing = root.resolve("lib/missing.jar");
        String classPath = String.join(File.pathSeparator, good.toString(), owned.toString(), groupWritable.toString(), classes.toString(), missing.toString());

        String readable = WorkerClassPath.readableByAll(classPath, root);

        assertEquals(good.toString(), readable);
        assertEquals(good.toString(), WorkerClassPath.trusted(classPath));
        assertTrue(Files.exists(good));
    }
}
