package org.jettyitk;

import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
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
     * Stops scanning: files added, changed or removed from now on are not applied until the next start. For a
     * front about to drop root, which could no longer read root-only vhost files, and would take a directory it
     * may not list for an empty one.
     *
     * @param why said in the log
     */
    void stopScanning(String why)
    {
        Scanner scanner = this.scanner;
        if (scanner == null || !scanner.isRunning())
            return;
        LifeCycle.stop(scanner);
        LOG.warn("itk vhost directory {} is no longer scanned: {}; restart the server to apply changed files", directory, why);
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
        // In name order, so that which of two files claiming the same host name wins does not depend on hashing.
        for (Path file : paths.stream().sorted().toList())
        {
            if (Files.exists(file))
                onFileAddedOrChanged(file);
            else
                onFileRemoved(file);
        }
    }

    private void onFileAddedOrChanged(Path file)
    {
        VirtualHost replacement;
        try
        {
            replacement = load(file);
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
        Path trusted = trusted(file);
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

    /**
     * @return the real path of the file, once checked that only root can change it
     * @throws IOException if it is not a regular file, or it or a directory of its real path is not owned by root
     * or is writable by others
     */
    private static Path trusted(Path file) throws IOException
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
        if (TrustedFiles.isReadableByGroupOrOthers(real))
            LOG.warn("itk vhost file {}: readable by other users: its settings, such as environment values, are visible to tenants; chmod 600 it", file);
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
        failures.put(file, reason);
        VirtualHost old = virtualHosts.get(file);
        if (old == null)
            LOG.warn("itk vhost file {}: {}", file, reason);
        else
            LOG.warn("itk vhost file {}: {}; vhost {} keeps its previous definition", file, reason, old.getName());
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
