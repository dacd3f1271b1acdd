package org.jettyitk.internal.worker;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.jar.JarOutputStream;
import java.util.zip.ZipEntry;

import org.eclipse.jetty.deploy.DeploymentScanner;
import org.eclipse.jetty.deploy.StandardContextHandlerFactory;
import org.eclipse.jetty.ee.webapp.WebAppClassLoading;
import org.eclipse.jetty.ee10.webapp.WebAppContext;
import org.eclipse.jetty.server.Deployable;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.handler.ContextHandler;
import org.eclipse.jetty.util.Attributes;
import org.eclipse.jetty.util.ClassMatcher;
import org.eclipse.jetty.util.component.Environment;
import org.jettyitk.internal.posix.Identity;
import org.jettyitk.internal.wire.DeploySettings;
import org.jettyitk.internal.wire.ProcessLimits;
import org.jettyitk.internal.wire.WorkerArguments;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>The worker's {@link WebAppContext} against the one Jetty's own deployer makes
 * ({@code StandardContextHandlerFactory}, as {@code ee10-deploy} runs it) for the same WAR and the same
 * {@code ee10} environment: class, context path, WAR, settings, configurations, hidden and protected classes,
 * attributes. The environment is set as a base's start properties set it, through
 * {@code DeploymentScanner.configureEnvironment}, with a value other than Jetty's default for every setting;
 * the front's settings then cross a worker's command line and land on an emptied environment, as in a new
 * worker JVM.</p>
 */
public class WebAppDeploymentTest
{
    @TempDir
    Path dir;
    private Server server;
    private Environment environment;

    @BeforeEach
    public void clearEnvironment()
    {
        server = new Server();
        environment = WebAppDeployment.environment();
        environment.clearAttributes();
    }

    @AfterEach
    public void restoreEnvironment()
    {
        environment.clearAttributes();
    }

    private Path war(String name) throws Exception
    {
        Path war = dir.resolve(name);
        try (OutputStream file = Files.newOutputStream(war); JarOutputStream jar = new JarOutputStream(file))
        {
            jar.putNextEntry(new ZipEntry("WEB-INF/web.xml"));
            jar.write("""
                <?xml version="1.0" encoding="UTF-8"?>
                <web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0"/>
                """.getBytes(StandardCharsets.UTF_8));
            jar.closeEntry();
        }
        return war;
    }

    /**
     * Sets every setting of {@code etc/jetty-ee10-deploy.xml} as a base's {@code jetty.deploy.*} properties
     * would, and adds hidden and protected classes as the base's modules do.
     */
    private void configureAsABase() throws Exception
    {
        Path defaults = dir.resolve("webdefault-ee10.xml");
        try (InputStream builtIn = WebAppContext.class.getResourceAsStream("webdefault-ee10.xml"))
        {
            Files.copy(builtIn, defaults);
        }
        DeploymentScanner.EnvironmentConfig config = new DeploymentScanner(server).configureEnvironment(environment.getName());
        config.setDefaultContextHandlerClassName(WebAppContext.class.getName());
        config.setDefaultsDescriptor(defaults.toString());
        config.setExtractWars(false);
        config.setParentLoaderPriority(true);
        config.setConfigurationClasses("org.eclipse.jetty.ee10.webapp.WebInfConfiguration,org.eclipse.jetty.ee10.webapp.WebXmlConfiguration," +
            "org.eclipse.jetty.ee10.webapp.MetaInfConfiguration,org.eclipse.jetty.ee10.webapp.JettyWebXmlConfiguration");
        config.setContainerScanJarPattern(".*/example-api-[^/]*\\.jar$");
        config.setWebInfScanJarPattern(".*/scanned-[^/]*\\.jar$");
        config.setServletContainerInitializerExclusionPattern("com\\.example\\.Excluded.*");
        config.setServletContainerInitializerOrder("com.example.First,*");
        WebAppClassLoading.addHiddenClasses(environment, "org.example.hidden.", "file:///opt/example/lib/");
        WebAppClassLoading.addProtectedClasses(environment, "org.example.api.");
        WebAppClassLoading.addHiddenClasses(server, "org.example.serverhidden.");
    }

    /**
     * @return what the worker deploys, given the settings the front sends for its environment and server
     */
    private WebAppContext deployInWorker(Path war) throws Exception
    {
        Map<String, String> settings = DeploySettings.settingsOf(environment, server, null);
        WorkerArguments sent = new WorkerArguments("site", new Identity("site", 41001, 41001, new int[0]), war.toString(), null, 027,
            ProcessLimits.NONE, null, Map.of(), settings);
        WorkerArguments received = WorkerArguments.parse(sent.toArguments().toArray(String[]::new));
        // A new worker JVM: an ee10 environment with nothing set, a server of its own.
        environment.clearAttributes();
        Server workerServer = new Server();
        WebAppContext webApp = assertInstanceOf(WebAppContext.class, AppDeployer.newHandler(workerServer, war.toString(), null, received.deploySettings()));
        workerServer.setHandler(webApp);
        return webApp;
    }

    private WebAppContext deployWithJettysDeployer(Path war) throws Exception
    {
        Attributes attributes = new Attributes.Layer(environment, new Attributes.Mapped());
        ContextHandler context = new StandardContextHandlerFactory().newContextHandler(server, environment, war, Set.of(war), attributes);
        // The deployer adds the context to the server's contexts, which sets its server.
        server.setHandler(context);
        return assertInstanceOf(WebAppContext.class, context);
    }

    @Test
    public void testWarDeploysAsJettysDeployerDeploysIt() throws Exception
    {
        // root.war: the deployer puts it at /, where the worker puts a vhost's app.
        Path war = war("root.war");
        configureAsABase();
        WebAppContext jettys = deployWithJettysDeployer(war);
        Map<String, Object> jetty = snapshot(jettys);

        WebAppContext workers = deployInWorker(war);
        Map<String, Object> worker = snapshot(workers);

        assertEquals(jetty, worker);
        // The one difference, on purpose: a webapp that cannot start fails its worker, so that the front reports it
        // and answers 503, where Jetty's deployer leaves it unavailable in a running server.
        assertFalse(jettys.isThrowUnavailableOnStartupException());
        assertTrue(workers.isThrowUnavailableOnStartupException());
        // What the settings give, so that the comparison cannot pass on two bare contexts.
        assertEquals(".*/example-api-[^/]*\\.jar$", worker.get("attribute org.eclipse.jetty.server.webapp.ContainerIncludeJarPattern"));
        assertEquals(".*/scanned-[^/]*\\.jar$", worker.get("attribute org.eclipse.jetty.server.webapp.WebInfIncludeJarPattern"));
        assertEquals(false, worker.get("extractWAR"));
        assertEquals(true, worker.get("parentLoaderPriority"));
        assertEquals(List.of("org.eclipse.jetty.ee10.webapp.WebInfConfiguration", "org.eclipse.jetty.ee10.webapp.WebXmlConfiguration",
            "org.eclipse.jetty.ee10.webapp.MetaInfConfiguration", "org.eclipse.jetty.ee10.webapp.JettyWebXmlConfiguration"), worker.get("configurations"));
        assertTrue(((Set<?>)worker.get("hidden")).containsAll(Set.of("org.example.hidden.", "file:///opt/example/lib/", "org.example.serverhidden.")), worker.toString());
        assertTrue(((Set<?>)worker.get("protected")).contains("org.example.api."), worker.toString());
        assertEquals("/", worker.get("contextPath"));
    }

    @Test
    public void testDirectoryDeploysAsJettysDeployerDeploysIt() throws Exception
    {
        Path root = Files.createDirectories(dir.resolve("root").resolve("WEB-INF")).getParent();
        Files.writeString(root.resolve("index.html"), "<p>root</p>");
        configureAsABase();
        Map<String, Object> jetty = snapshot(deployWithJettysDeployer(root));

        Map<String, Object> worker = snapshot(deployInWorker(root));

        assertEquals(jetty, worker);
        assertEquals(root.toUri().toString(), worker.get("baseResource").toString().replaceAll("/$", "") + "/");
    }

    @Test
    public void testWithoutEe10DeployTheWorkerTakesItsDefaults() throws Exception
    {
        Path war = war("root.war");
        Path home = Files.createDirectories(dir.resolve("jetty-home/etc"));
        Path defaults = Files.writeString(home.resolve("webdefault-ee10.xml"), "<web-app/>");

        Map<String, String> settings = DeploySettings.settingsOf(environment, server, dir.resolve("jetty-home").toString());

        assertEquals(DeploySettings.DEFAULT_CONTAINER_SCAN_JARS, settings.get(Deployable.CONTAINER_SCAN_JARS));
        assertEquals(defaults.toString(), settings.get(Deployable.DEFAULTS_DESCRIPTOR));
        assertFalse(settings.containsKey(Deployable.EXTRACT_WARS), "unset, as ee10-deploy leaves it: " + settings);
        WebAppDeployment.configure(server, environment, settings);
        WebAppContext webApp = WebAppDeployment.newWebApp(war, environment);
        assertEquals(DeploySettings.DEFAULT_CONTAINER_SCAN_JARS, webApp.getAttribute("org.eclipse.jetty.server.webapp.ContainerIncludeJarPattern"));
        assertTrue(webApp.isExtractWAR());
        assertFalse(webApp.isParentLoaderPriority());
    }

    @Test
    public void testBadSettingsAreRefusedByName()
    {
        IllegalArgumentException notBoolean = assertThrows(IllegalArgumentException.class,
            () -> WebAppDeployment.configure(server, environment, Map.of(Deployable.EXTRACT_WARS, "yes")));
        assertEquals("deploy setting jetty.deploy.extractWars is not true or false: yes", notBoolean.getMessage());
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
            () -> WebAppDeployment.configure(server, environment, Map.of("jetty.deploy.war", "/etc/shadow")));
        assertEquals("unknown deploy setting: jetty.deploy.war", unknown.getMessage());
        IllegalArgumentException noValue = assertThrows(IllegalArgumentException.class,
            () -> WorkerArguments.parse(new String[]{"--deploy", "jetty.deploy.extractWars"}));
        assertEquals("--deploy takes name=value: jetty.deploy.extractWars", noValue.getMessage());
    }

    /**
     * @return what a deployment decides, by name: the context's settings, configurations, class-loading patterns
     * and attributes (patterns as sorted sets, other values as strings)
     */
    private static Map<String, Object> snapshot(WebAppContext webApp)
    {
        Map<String, Object> snapshot = new TreeMap<>();
        snapshot.put("class", webApp.getClass().getName());
        snapshot.put("contextPath", webApp.getContextPath());
        snapshot.put("displayName", webApp.getDisplayName());
        snapshot.put("war", webApp.getWar());
        snapshot.put("baseResource", String.valueOf(webApp.getBaseResource()));
        snapshot.put("extractWAR", webApp.isExtractWAR());
        snapshot.put("parentLoaderPriority", webApp.isParentLoaderPriority());
        snapshot.put("defaultsDescriptor", webApp.getDefaultsDescriptor());
        snapshot.put("configurations", List.of(webApp.getConfigurationClasses()));
        snapshot.put("hidden", new TreeSet<>(Arrays.asList(webApp.getHiddenClasses())));
        snapshot.put("protected", new TreeSet<>(Arrays.asList(webApp.getProtectedClasses())));
        snapshot.put("tempDirectory", String.valueOf(webApp.getTempDirectory()));
        snapshot.put("tempDirectoryPersistent", webApp.isTempDirectoryPersistent());
        for (String name : webApp.getAttributeNameSet())
        {
            Object value = webApp.getAttribute(name);
            if (value instanceof ClassMatcher matcher)
                snapshot.put("attribute " + name, new TreeSet<>(Arrays.asList(matcher.getPatterns())));
            else if (value instanceof String[] array)
                snapshot.put("attribute " + name, List.of(array));
            else
                snapshot.put("attribute " + name, String.valueOf(value));
        }
        return snapshot;
    }
}
