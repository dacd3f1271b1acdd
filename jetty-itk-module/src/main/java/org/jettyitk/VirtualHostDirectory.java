package org.jettyitk;

import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import org.eclipse.jetty.util.FutureCallback;
import org.eclipse.jetty.util.IncludeExcludeSet;
import org.eclipse.jetty.util.Scanner;
import org.eclipse.jetty.util.annotation.ManagedAttribute;
import org.eclipse.jetty.util.annotation.ManagedObject;
import org.eclipse.jetty.util.annotation.ManagedOperation;
import org.eclipse.jetty.util.component.ContainerLifeCycle;
import org.eclipse.jetty.util.component.DumpableMap;
import org.eclipse.jetty.util.component.LifeCycle;
import org.eclipse.jetty.util.resource.ResourceFactory;
import org.eclipse.jetty.xml.XmlConfiguration;
import org.jettyitk.internal.posix.Identity;
import org.jettyitk.internal.posix.Posix;
import org.jettyitk.internal.posix.TrustedFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xml.sax.SAXParseException;

/**
 * <p>Keeps the vhosts of an {@link ItkHandler} in step with a directory of Jetty XML files, one vhost per file,
 * as Jetty's deployer keeps contexts in step with {@code webapps/}.</p>
 * <pre>{@code
 * <?xml version="1.0"?>
 * <!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "https://jetty.org/configure_10_0.dtd">
 * <Configure class="org.jettyitk.VirtualHost">
 *   <Call name="setHostNames"><Arg><Array type="String"><Item>alice.example.com</Item></Array></Arg></Call>
 *   <Set name="user">alice</Set>
 *   <Set name="app"><Property name="jetty.base"/>/tenants/alice/site.war</Set>
 * </Configure>
 * }</pre>
 * <p>A file {@code NAME.xml} defines a vhost named {@code NAME} unless it sets a name itself. The files are
 * configured with the {@link #setProperty(String, String) properties} of this bean, such as {@code jetty.base}.
 * Hidden files ({@code .NAME.xml}) and files not ending in {@code .xml} are ignored.</p>
 * <p>Once the handler is started (at once if it already is), every file found is added; then every
 * {@link #setScanIntervalSeconds(int) scan interval} the directory is scanned again, and a file that was added,
 * changed or removed (and has kept its size and date for one more scan) adds, replaces or removes its vhost
 * with {@link ItkHandler#addVirtualHost(VirtualHost)}, {@link ItkHandler#replaceVirtualHost(VirtualHost, VirtualHost)}
 * and {@link ItkHandler#removeVirtualHost(VirtualHost)}: new requests use the new definition while requests in
 * flight finish on the old workers.</p>
 * <p>A file that cannot be used (not well-formed XML, an unknown setter, a definition the handler refuses such
 * as an unknown user or a host name another vhost has) is logged at WARN with its name, and its line where the
 * XML parser gives one; the vhost it defined before, if any, keeps serving unchanged. Stopping this bean removes
 * the vhosts it added.</p>
 * <p>Files are read as the front's user (root), and Jetty XML runs code ({@code <Call class="...">}): a file is read
 * only if it, and every directory of its real path, is owned by root and writable by no one else; a file that
 * is not (a link to a tenant's file, a file a group may write) is refused and logged at WARN with the reason, and
 * {@link #start()} fails if the directory itself is not. A file that other users may read is used, with a WARN:
 * its settings, such as environment values, are visible to tenants ({@code chmod 600} it).</p>
 * <p>With the handler's {@code frontUser} set, the front reads the files as root at start, and as {@code frontUser}
 * once it has dropped: the directory keeps being scanned, so the directory and its files may be readable by the
 * front's group (directory {@code 0750}, files {@code 0640}, group {@code frontGroup}, still owned by root and
 * writable by root only), which draws no WARN. A file the dropped front cannot read is logged at ERROR with the
 * mode it needs, and the vhost it defined keeps serving; a directory the front could not list is no longer
 * scanned from the drop on (an ERROR says so), rather than taken for an empty one.</p>
 */
@ManagedObject("Adds, replaces and removes the vhosts of an ItkHandler as files of a directory change")
public class VirtualHostDirectory extends ContainerLifeCycle
{
    private static final Logger LOG = LoggerFactory.getLogger(VirtualHostDirectory.class);
    /** Default seconds between two scans of the directory. */
    public static final int DEFAULT_SCAN_INTERVAL_SECONDS = 1;
    /** Longest wait of {@link #scan()} for one pass of the scanner. */
    private static final long SCAN_TIMEOUT_SECONDS = 60;
    private static final String SUFFIX = ".xml";
    private static final String WARM_UP = "parser-warm-up.xml";
    private static final int GROUP_READ = 0040;
    private static final int OTHERS_READ = 0004;

    private final ItkHandler handler;
    private final Map<String, String> properties = new HashMap<>();
    /** The vhost each file defines, by the file's real path: only files that were applied. */
    private final Map<Path, VirtualHost> virtualHosts = new TreeMap<>();
    /** Why each file that could not be applied was refused, by the file's real path. */
    private final Map<Path, String> failures = new TreeMap<>();
    private final LifeCycle.Listener onHandlerStarted = new LifeCycle.Listener()
    {
        @Override
        public void lifeCycleStarted(LifeCycle event)
        {
            startScanning();
        }

        @Override
        public String toString()
        {
            return "%s@%x.onHandlerStarted".formatted(VirtualHostDirectory.class.getSimpleName(), VirtualHostDirectory.this.hashCode());
        }
    };
    private Path directory;
    private int scanIntervalSeconds = DEFAULT_SCAN_INTERVAL_SECONDS;
    private String defaultVirtualHost;
    private boolean defaultVirtualHostSet;
    private Scanner scanner;

    /**
     * @param handler the handler whose vhosts this bean adds, replaces and removes
     */
    public VirtualHostDirectory(ItkHandler handler)
    {
        this(handler, null);
    }

    /**
     * @param handler the handler whose vhosts this bean adds, replaces and removes
     * @param directory the directory of vhost files, or null to set it later
     */
    public VirtualHostDirectory(ItkHandler handler, Path directory)
    {
        if (handler == null)
            throw new IllegalArgumentException("no ItkHandler");
        this.handler = handler;
        this.directory = directory;
        for (String name : List.of("jetty.home", "jetty.base"))
        {
            String value = System.getProperty(name);
            if (value != null)
                properties.put(name, value);
        }
    }

    public ItkHandler getHandler()
    {
        return handler;
    }

    @ManagedAttribute("The directory of vhost files")
    public Path getDirectory()
    {
        return directory;
    }

    public void setDirectory(Path directory)
    {
        if (isRunning())
            throw new IllegalStateException("cannot change the directory of a running " + this);
        this.directory = directory;
    }

    /**
     * @param directory the directory of vhost files, as a Jetty XML property gives it
     */
    public void setDirectory(String directory)
    {
        setDirectory(Path.of(directory));
    }

    @ManagedAttribute("Seconds between two scans of the directory; 0 for no scan after the first")
    public int getScanIntervalSeconds()
    {
        return scanIntervalSeconds;
    }

    public void setScanIntervalSeconds(int seconds)
    {
        if (seconds < 0)
            throw new IllegalArgumentException("scan interval < 0: " + seconds);
        if (isRunning())
            throw new IllegalStateException("cannot change the scan interval of a running " + this);
        this.scanIntervalSeconds = seconds;
    }

    @ManagedAttribute("The vhost that serves hosts no vhost names, set on the handler after the first scan; null for none")
    public String getDefaultVirtualHost()
    {
        return defaultVirtualHost;
    }

    /**
     * <p>The handler checks at start that its default vhost exists, but the vhosts of this directory are added only
     * after the handler started: so a default vhost defined by a file is named here, and set on the handler once the
     * files were read.</p>
     *
     * @param name the name of the vhost (a file's name without {@code .xml}, unless it sets another) or null
     */
    public void setDefaultVirtualHost(String name)
    {
        this.defaultVirtualHost = name == null || name.isBlank() ? null : name.trim();
    }

    /**
     * @param name a property that vhost files can read with {@code <Property name="NAME"/>}
     * @param value its value; null removes it
     */
    public void setProperty(String name, String value)
    {
        synchronized (properties)
        {
            if (value == null)
                properties.remove(name);
            else
                properties.put(name, value);
        }
    }

    @ManagedAttribute("Properties vhost files can read")
    public Map<String, String> getProperties()
    {
        synchronized (properties)
        {
            return Map.copyOf(properties);
        }
    }

    /**
     * @return the vhosts defined by the directory's files, by file, as last applied
     */
    @ManagedAttribute("The vhost of each file")
    public synchronized Map<Path, VirtualHost> getVirtualHosts()
    {
        return new LinkedHashMap<>(virtualHosts);
    }

    /**
     * @return the files whose last version could not be applied, with the reason, as logged
     */
    @ManagedAttribute("Files whose last version could not be applied, with the reason")
    public synchronized Map<Path, String> getFailures()
    {
        return new LinkedHashMap<>(failures);
    }

    @Override
    protected void doStart() throws Exception
    {
        if (directory == null)
            throw new IllegalStateException("no vhost directory set on " + this);
        if (!Files.isDirectory(directory))
            throw new IllegalStateException("vhost directory is not a directory: " + directory);
        try
        {
            TrustedFiles.check(directory);
        }
        catch (IOException x)
        {
            throw new IllegalStateException("vhost directory " + directory + " refused: " + x.getMessage(), x);
        }
        scanner = newScanner();
        addBean(scanner, true);
        super.doStart();
        if (handler.isStarted())
            startScanning();
        else
            // The handler checks its vhosts at start: ours are added to a started handler, one by one, so that a
            // file it refuses is logged and skipped instead of failing the start of every vhost.
            handler.addEventListener(onHandlerStarted);
    }

    private Scanner newScanner()
    {
        Scanner scanner = new Scanner();
        scanner.setScanInterval(scanIntervalSeconds);
        scanner.setScanDepth(1);
        scanner.setReportDirs(false);
        scanner.setReportExistingFilesOnStartup(true);
        scanner.setAutoStartScanning(false);
        IncludeExcludeSet<PathMatcher, Path> files = scanner.addDirectory(directory);
        files.include(FileSystems.getDefault().getPathMatcher("glob:**/*" + SUFFIX));
        // Editors' and tools' temporary files (.alice.xml.swp, .#alice.xml) are not vhosts.
        files.exclude(FileSystems.getDefault().getPathMatcher("glob:**/.*"));
        scanner.addListener(new Scanner.BulkListener()
        {
            @Override
            public void pathsChanged(Set<Path> paths)
            {
                onFilesChanged(paths);
            }

            @Override
            public void filesChanged(Set<String> filenames)
            {
                // pathsChanged(Set<Path>) is overridden: never called.
            }
        });
        return scanner;
    }

    /**
     * <p>Called by the handler, still root, just before the front drops to {@code front}. The scanner goes on as
     * {@code front}; if {@code front} could not list the directory, scanning stops instead (a directory it may not
     * list would look empty, and every vhost would go). Files the front will not be able to read are named now.</p>
     *
     * @param front the identity the front drops to
     */
    synchronized void onFrontDropping(Identity front)
    {
        Scanner scanner = this.scanner;
        if (scanner == null || !scanner.isRunning())
            return;
        warmUpParser();
        try
        {
            if (!mayRead(directory, front, true))
            {
                LifeCycle.stop(scanner);
                LOG.error("itk vhost directory {} ({}) cannot be listed by the front's user uid={} gid={} once it drops: it is no longer scanned; restart the server to apply changed files, " +
                    "or make it mode 0750, owned by root, group {}", directory, describe(directory), front.uid(), front.gid(), front.gid());
                return;
            }
            for (Path file : virtualHosts.keySet())
            {
                if (!mayRead(file, front, false))
                    LOG.error("itk vhost file {} ({}) cannot be read by the front's user uid={} gid={} once it drops: changes to it will be refused; make it mode 0640, owned by root, group {}",
                        file, describe(file), front.uid(), front.gid(), front.gid());
            }
        }
        catch (IOException x)
        {
            LOG.warn("itk vhost directory {}: cannot check what the front may read once it drops: {}", directory, x.toString());
        }
    }

    /**
     * Jetty's XML parser reads its catalogs and DTDs from the jetty-xml jar when it is made, and
     * {@link XmlConfiguration} keeps its parsers for the next file: one made now, as root, serves the scans after the
     * drop even if the front's user may not read the server's jars.
     */
    private static void warmUpParser()
    {
        try
        {
            new XmlConfiguration(ResourceFactory.root().newMemoryResource(VirtualHostDirectory.class.getResource(WARM_UP)));
        }
        catch (Exception x)
        {
            LOG.warn("itk vhost files: cannot make Jetty's XML parser ready before the drop: {}", x.toString());
        }
    }

    /**
     * @return whether {@code identity}, with no supplementary group, may read the file (or list and search the
     * directory), by its mode
     */
    private static boolean mayRead(Path path, Identity identity, boolean directory) throws IOException
    {
        Map<String, Object> attributes = Files.readAttributes(path, "unix:uid,gid,mode");
        int mode = (Integer)attributes.get("mode");
        int bits;
        if ((Integer)attributes.get("uid") == identity.uid())
            bits = (mode >> 6) & 7;
        else if ((Integer)attributes.get("gid") == identity.gid())
            bits = (mode >> 3) & 7;
        else
            bits = mode & 7;
        int needed = directory ? 5 : 4;
        return (bits & needed) == needed;
    }

    private static String describe(Path path)
    {
        try
        {
            Map<String, Object> attributes = Files.readAttributes(path, "unix:uid,gid,mode", LinkOption.NOFOLLOW_LINKS);
            return "mode 0%o, owner %d:%d".formatted((Integer)attributes.get("mode") & 07777, attributes.get("uid"), attributes.get("gid"));
        }
        catch (IOException x)
        {
            return "not readable: " + x;
        }
    }

    /**
     * @return the identity the front runs as now, if it has dropped root; else null
     */
    private Identity droppedFront()
    {
        Identity front = handler.getFrontIdentity();
        if (front == null)
            return null;
        try
        {
            return Posix.get().geteuid() == 0 ? null : front;
        }
        catch (IOException x)
        {
            return front;
        }
    }

    private void startScanning()
    {
        Scanner scanner = this.scanner;
        if (scanner == null || !scanner.isRunning())
            return;
        scanner.startScanning();
        String name = defaultVirtualHost;
        if (name != null)
        {
            if (handler.getVirtualHosts().stream().noneMatch(v -> name.equals(v.getName())))
                LOG.warn("default vhost '{}' is not defined by any file of {}", name, directory);
            handler.setDefaultVirtualHost(name);
            defaultVirtualHostSet = true;
        }
    }

    /**
     * <p>Scans the directory now and applies what changed: two passes of the scanner, since a file is used only
     * once it kept its size and date for one pass. Not to be called from a scanner listener.</p>
     *
     * @throws Exception if the scan failed or took longer than a minute
     */
    @ManagedOperation(value = "Scans the vhost directory now", impact = "ACTION")
    public void scan() throws Exception
    {
        Scanner scanner = this.scanner;
        if (scanner == null || !scanner.isRunning())
            throw new IllegalStateException("not running: " + this);
        for (int pass = 0; pass < 2; pass++)
        {
            FutureCallback done = new FutureCallback();
            scanner.scan(done);
            done.get(SCAN_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        }
    }

    private synchronized void onFilesChanged(Set<Path> paths)
    {
        if (!isRunning())
            return;
        if (paths.stream().anyMatch(file -> !Files.exists(file)) && !canList())
            return;
        // In name order, so that which of two files claiming the same host name wins does not depend on hashing.
        for (Path file : paths.stream().sorted().toList())
        {
            if (Files.exists(file))
                onFileAddedOrChanged(file);
            else
                onFileRemoved(file);
        }
    }

    /**
     * @return whether the directory can be listed now: a scan of a directory the front may not list reports every
     * file as removed
     */
    private boolean canList()
    {
        try (DirectoryStream<Path> ignored = Files.newDirectoryStream(directory))
        {
            return true;
        }
        catch (IOException x)
        {
            Identity front = droppedFront();
            LOG.error("itk vhost directory {} ({}) cannot be listed{}: {}; no vhost is removed{}", directory, describe(directory),
                front == null ? "" : " by the front's user uid=" + front.uid() + " gid=" + front.gid(), x.toString(),
                front == null ? "" : "; make it mode 0750, owned by root, group " + front.gid());
            return false;
        }
    }

    private void onFileAddedOrChanged(Path file)
    {
        VirtualHost replacement;
        try
        {
            replacement = load(file);
        }
        catch (UnreadableFileException x)
        {
            fail(file, x.getMessage(), true);
            return;
        }
        catch (Throwable x)
        {
            warn(file, x);
            return;
        }
        VirtualHost old = virtualHosts.get(file);
        try
        {
            if (old != null && handler.getVirtualHosts().contains(old))
                handler.replaceVirtualHost(old, replacement);
            else
                handler.addVirtualHost(replacement);
            virtualHosts.put(file, replacement);
            failures.remove(file);
            LOG.info("itk vhost file {}: {} vhost {}", file, old == null ? "added" : "replaced", replacement.getName());
        }
        catch (IllegalStateException | IllegalArgumentException x)
        {
            fail(file, x.getMessage());
        }
    }

    private void onFileRemoved(Path file)
    {
        failures.remove(file);
        VirtualHost old = virtualHosts.remove(file);
        if (old == null)
            return;
        handler.removeVirtualHost(old);
        LOG.info("itk vhost file {}: removed vhost {}", file, old.getName());
    }

    /**
     * @param file a vhost file
     * @return the vhost it defines, named after the file unless it sets a name
     * @throws Exception if the file is not a valid Jetty XML configuration of a {@link VirtualHost}
     */
    protected VirtualHost load(Path file) throws Exception
    {
        String fileName = file.getFileName().toString();
        VirtualHost virtualHost = new VirtualHost(fileName.substring(0, fileName.length() - SUFFIX.length()));
        Identity front = droppedFront();
        Path trusted;
        try
        {
            trusted = trusted(file, handler.getFrontIdentity());
        }
        catch (AccessDeniedException x)
        {
            throw unreadable(file, front, x);
        }
        if (front != null && !Files.isReadable(trusted))
            throw unreadable(file, front, null);
        XmlConfiguration configuration = new XmlConfiguration(ResourceFactory.root().newResource(trusted));
        configuration.getProperties().putAll(getProperties());
        configuration.getProperties().put("jetty.itk.directory", directory.toString());
        Thread thread = Thread.currentThread();
        ClassLoader loader = thread.getContextClassLoader();
        // The scanner's thread may have any context loader: <Configure class="..."> must see this module's classes.
        thread.setContextClassLoader(VirtualHostDirectory.class.getClassLoader());
        try
        {
            configuration.configure(virtualHost);
        }
        finally
        {
            thread.setContextClassLoader(loader);
        }
        return virtualHost;
    }

    private UnreadableFileException unreadable(Path file, Identity front, IOException cause)
    {
        if (front == null)
            return new UnreadableFileException("cannot be read (" + describe(file) + ")" + (cause == null ? "" : ": " + cause.getMessage()), cause);
        return new UnreadableFileException(("cannot be read by the front's user uid=%d gid=%d (%s)%s: make it mode 0640, owned by root, group %d, in a directory of mode 0750, " +
            "owned by root, group %d").formatted(front.uid(), front.gid(), describe(file), cause == null ? "" : ": " + cause.getMessage(), front.gid(), front.gid()), cause);
    }

    /**
     * A vhost file its reader may not read: an ERROR, since no retry helps until its mode changes.
     */
    private static final class UnreadableFileException extends IOException
    {
        private UnreadableFileException(String message, Throwable cause)
        {
            super(message, cause);
        }
    }

    /**
     * @param front the identity the front drops to, or null if it keeps root: its group may read the file
     * @return the real path of the file, once checked that only root can change it
     * @throws IOException if it is not a regular file, or it or a directory of its real path is not owned by root
     * or is writable by others
     */
    private static Path trusted(Path file, Identity front) throws IOException
    {
        Path real;
        try
        {
            real = TrustedFiles.check(file);
        }
        catch (IOException x)
        {
            throw new IOException("refused: " + x.getMessage(), x);
        }
        if (!Files.isRegularFile(real, LinkOption.NOFOLLOW_LINKS))
            throw new IOException("refused: " + real + " is not a regular file");
        Map<String, Object> attributes = Files.readAttributes(real, "unix:gid,mode", LinkOption.NOFOLLOW_LINKS);
        int mode = (Integer)attributes.get("mode");
        // The front's own group may read it: the front reads it after its drop. Anyone else is a tenant, perhaps.
        boolean frontsGroup = front != null && (Integer)attributes.get("gid") == front.gid();
        if ((mode & OTHERS_READ) != 0 || (mode & GROUP_READ) != 0 && !frontsGroup)
        {
            if (front == null)
                LOG.warn("itk vhost file {}: readable by other users: its settings, such as environment values, are visible to tenants; chmod 600 it", file);
            else
                LOG.warn("itk vhost file {}: readable by other users: its settings, such as environment values, are visible to tenants; chmod 640 it, group {} (the front's)", file, front.gid());
        }
        return real;
    }

    private void warn(Path file, Throwable failure)
    {
        if (LOG.isDebugEnabled())
            LOG.debug("itk vhost file {}", file, failure);
        SAXParseException parse = find(failure, SAXParseException.class);
        if (parse != null)
        {
            fail(file, "line %d, column %d: %s".formatted(parse.getLineNumber(), parse.getColumnNumber(), parse.getMessage()));
            return;
        }
        Throwable cause = failure;
        while (cause instanceof InvocationTargetException && cause.getCause() != null)
        {
            cause = cause.getCause();
        }
        fail(file, cause.toString());
    }

    private void fail(Path file, String reason)
    {
        fail(file, reason, false);
    }

    private void fail(Path file, String reason, boolean error)
    {
        failures.put(file, reason);
        VirtualHost old = virtualHosts.get(file);
        String kept = old == null ? "" : "; vhost " + old.getName() + " keeps its previous definition";
        if (error)
            LOG.error("itk vhost file {}: {}{}", file, reason, kept);
        else
            LOG.warn("itk vhost file {}: {}{}", file, reason, kept);
    }

    private static <T extends Throwable> T find(Throwable failure, Class<T> type)
    {
        for (Throwable cause = failure; cause != null; cause = cause.getCause())
        {
            if (type.isInstance(cause))
                return type.cast(cause);
            if (cause.getCause() == cause)
                break;
        }
        return null;
    }

    @Override
    protected void doStop() throws Exception
    {
        handler.removeEventListener(onHandlerStarted);
        super.doStop();
        removeBean(scanner);
        scanner = null;
        List<VirtualHost> added;
        synchronized (this)
        {
            added = new ArrayList<>(virtualHosts.values());
            virtualHosts.clear();
            failures.clear();
        }
        // Stop undoes start: a restarted directory adds its files again, to a handler that no longer has them
        // (and whose start would fail on a default vhost that is not yet there).
        for (VirtualHost virtualHost : added)
        {
            handler.removeVirtualHost(virtualHost);
        }
        if (defaultVirtualHostSet)
        {
            handler.setDefaultVirtualHost(null);
            defaultVirtualHostSet = false;
        }
    }

    @Override
    public void dump(Appendable out, String indent) throws IOException
    {
        dumpObjects(out, indent, new DumpableMap("files", getVirtualHosts()));
    }

    @Override
    public String toString()
    {
        return "%s@%x[dir=%s,interval=%ds,files=%d,%s]".formatted(getClass().getSimpleName(), hashCode(), directory, scanIntervalSeconds, virtualHosts.size(), getState());
    }
}
