package org.jettyitk.internal.front;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Instant;
import java.util.Set;

import org.eclipse.jetty.util.thread.AutoLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>A vhost's log of its workers' stderr: one line per line the tenant printed, prefixed with the time and
 * pid, rotated past a size (one {@code .1} file kept), so a tenant printing without end fills a bounded amount
 * of disk.</p>
 * <p>The front opens the file as root, so the file's directory must be writable by root only: otherwise a
 * tenant could replace the file with a link to any file of the system. The file itself is opened without
 * following a link.</p>
 */
public class TenantLog implements AutoCloseable
{
    private static final Logger LOG = LoggerFactory.getLogger(TenantLog.class);
    private static final Set<PosixFilePermission> UNSAFE_DIRECTORY_PERMISSIONS = Set.of(PosixFilePermission.GROUP_WRITE, PosixFilePermission.OTHERS_WRITE);

    private final AutoLock lock = new AutoLock();
    private final Path file;
    private final long maxSize;
    private OutputStream output;
    private long size;

    /**
     * @throws IOException if the directory is writable by others than its owner, not owned by root, or the
     * file cannot be opened
     */
    public TenantLog(Path file, long maxSize) throws IOException
    {
        this.file = file.toAbsolutePath().normalize();
        this.maxSize = maxSize;
        Path directory = this.file.getParent();
        Files.createDirectories(directory);
        int owner = (Integer)Files.getAttribute(directory, "unix:uid");
        Set<PosixFilePermission> permissions = Files.getPosixFilePermissions(directory);
        if (owner != 0 && owner != currentUid() || permissions.stream().anyMatch(UNSAFE_DIRECTORY_PERMISSIONS::contains))
            throw new IOException("log directory " + directory + " must be owned by the front's user and writable by it only");
        open();
    }

    private static int currentUid() throws IOException
    {
        return (Integer)Files.getAttribute(Path.of("/proc/self"), "unix:uid");
    }

    private void open() throws IOException
    {
        output = Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
        size = Files.size(file);
    }

    /**
     * Appends one line; on failure the line goes to the server log instead.
     */
    public void write(long pid, String line)
    {
        byte[] bytes = (Instant.now() + " [" + pid + "] " + line + "\n").getBytes(StandardCharsets.UTF_8);
        try (AutoLock ignored = lock.lock())
        {
            if (size + bytes.length > maxSize)
                rotate();
            output.write(bytes);
            output.flush();
            size += bytes.length;
        }
        catch (IOException x)
        {
            LOG.warn("cannot write {}: {}; line was [{}] {}", file, x.toString(), pid, line);
        }
    }

    private void rotate() throws IOException
    {
        output.close();
        Files.move(file, file.resolveSibling(file.getFileName() + ".1"), StandardCopyOption.REPLACE_EXISTING);
        open();
    }

    @Override
    public void close()
    {
        try (AutoLock ignored = lock.lock())
        {
            output.close();
        }
        catch (IOException x)
        {
            LOG.trace("IGNORED", x);
        }
    }

    @Override
    public String toString()
    {
        return "%s@%x[%s,max=%d]".formatted(getClass().getSimpleName(), hashCode(), file, maxSize);
    }
}
