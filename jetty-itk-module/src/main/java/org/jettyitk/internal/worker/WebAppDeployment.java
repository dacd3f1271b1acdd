package org.jettyitk.internal.worker;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.eclipse.jetty.ee.webapp.WebAppClassLoading;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.webapp.WebAppContext;
import org.eclipse.jetty.server.Deployable;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.util.Attributes;
import org.eclipse.jetty.util.ClassMatcher;
import org.eclipse.jetty.util.FileID;
import org.eclipse.jetty.util.component.Environment;
import org.eclipse.jetty.util.resource.Resource;
import org.eclipse.jetty.util.resource.ResourceFactory;
import org.eclipse.jetty.util.resource.Resources;

/**
 * <p>Deploys a WAR or an exploded webapp in the worker as Jetty's {@code ee10-deploy} module deploys one in
 * {@code ${jetty.base}/webapps}: the same {@link WebAppContext}, the same deploy attributes, applied by Jetty's
 * own {@link Deployable#initializeDefaults(Attributes)}.</p>
 * <p>On a plain Jetty base, {@code etc/jetty-ee10-deploy.xml} puts the base's deploy settings (the
 * {@code jetty.deploy.*} properties, or their defaults) on the {@code ee10} {@link Environment}, and the
 * deployer's {@code StandardContextHandlerFactory} lays an app's own attributes (its paths, its WAR) over them,
 * calls {@code initializeDefaults} and copies them all into the context's attributes. The worker's JVM has no
 * start properties, so the front collects the settings from its own {@code ee10} environment
 * ({@link #settingsOf(Environment, Attributes, String)}), they travel as {@code --deploy name=value} arguments,
 * and the worker puts them on its own {@code ee10} environment ({@link #configure(Server, Environment, Map)}) before
 * it builds the context ({@link #newWebApp(Path, Environment)}).</p>
 * <table>
 *   <caption>The settings</caption>
 *   <tr><th>name</th><th>where the front takes it</th></tr>
 *   <tr><td>{@link Deployable} {@code jetty.deploy.*} settings</td><td>the front's {@code ee10} environment,
 *   where {@code ee10-deploy} put them when the base enables it; otherwise {@code ee10-deploy}'s defaults:
 *   {@link #DEFAULT_CONTAINER_SCAN_JARS} and {@code ${jetty.home}/etc/webdefault-ee10.xml}</td></tr>
 *   <tr><td>{@link WebAppClassLoading#HIDDEN_CLASSES_ATTRIBUTE}, {@link WebAppClassLoading#PROTECTED_CLASSES_ATTRIBUTE}</td>
 *   <td>the patterns of the front's {@code ee10} environment, which the base's modules added to
 *   ({@code jetty.webapp.addHiddenClasses}, for example {@code org.slf4j.} from the logging modules)</td></tr>
 *   <tr><td>{@link #SERVER_HIDDEN_CLASSES}, {@link #SERVER_PROTECTED_CLASSES}</td><td>the patterns of the front's
 *   server ({@code jetty.server.addHiddenClasses}), which go on the worker's server</td></tr>
 * </table>
 * <p>The configurations are Jetty's: {@link WebAppContext} finds them with the {@code ServiceLoader} on the
 * worker's class path, which holds the front's jars, so a base with {@code ee10-annotations} or
 * {@code ee10-apache-jsp} gives its workers annotations or JSP exactly as its own webapps. The temporary
 * directory follows Jetty's rules too: with no {@code jetty.base} in the worker, it is made under the
 * worker's {@code java.io.tmpdir}, the tenant's own.</p>
 */
public final class WebAppDeployment
{
    /**
     * {@code ee10-deploy}'s default {@code jetty.deploy.containerScanJarPattern} (in Jetty's
     * {@code etc/jetty-ee10-deploy.xml}, not in its code): the container jars scanned for TLDs and fragments,
     * the servlet API and JSTL. Without it a JSP using JSTL fails: Jasper finds no TLD for
     * {@code jakarta.tags.core}.
     */
    public static final String DEFAULT_CONTAINER_SCAN_JARS = ".*/jakarta.servlet-api-[^/]*\\.jar$|.*jakarta.servlet.jsp.jstl-.*\\.jar$";
    /** Where {@code ee10-deploy} takes the defaults descriptor, below {@code jetty.home}, unless told otherwise. */
    public static final String DEFAULT_DEFAULTS_DESCRIPTOR = "etc/webdefault-ee10.xml";
    /** The environment attribute naming the class of the contexts the deployer makes (jetty-deploy's {@code ContextHandlerFactory}). */
    public static final String DEFAULT_CONTEXT_HANDLER_CLASS_ATTRIBUTE = "jetty.deploy.defaultContextHandlerClass";
    /** The deploy settings, by their {@link Deployable} attribute names, that the front passes on. */
    public static final List<String> DEPLOY_SETTINGS = List.of(
        Deployable.DEFAULTS_DESCRIPTOR,
        Deployable.CONTAINER_SCAN_JARS,
        Deployable.WEBINF_SCAN_JARS,
        Deployable.EXTRACT_WARS,
        Deployable.PARENT_LOADER_PRIORITY,
        Deployable.CONFIGURATION_CLASSES,
        Deployable.SCI_EXCLUSION_PATTERN,
        Deployable.SCI_ORDER);
    /** The hidden classes of the front's server ({@code jetty.server.addHiddenClasses}), for the worker's server. */
    public static final String SERVER_HIDDEN_CLASSES = "server:" + WebAppClassLoading.HIDDEN_CLASSES_ATTRIBUTE;
    /** The protected classes of the front's server ({@code jetty.server.addProtectedClasses}), for the worker's server. */
    public static final String SERVER_PROTECTED_CLASSES = "server:" + WebAppClassLoading.PROTECTED_CLASSES_ATTRIBUTE;
    private static final Set<String> BOOLEAN_SETTINGS = Set.of(Deployable.EXTRACT_WARS, Deployable.PARENT_LOADER_PRIORITY);

    private WebAppDeployment()
    {
    }

    /**
     * @param server the front's server
     * @return the deploy settings of the front's {@code ee10} environment and server, with its {@code jetty.home}
     * @see #settingsOf(Environment, Attributes, String)
     */
    public static Map<String, String> settingsOf(Server server)
    {
        return settingsOf(environment(), server, System.getProperty("jetty.home"));
    }

    /**
     * <p>The front's side: the deploy settings of its {@code ee10} environment, as {@code ee10-deploy} gives
     * them to the webapps it deploys.</p>
     *
     * @param environment the front's {@code ee10} environment, or null (embedded, without one)
     * @param server the front's server attributes (its hidden and protected classes), or null
     * @param jettyHome the front's {@code jetty.home}, or null
     * @return the settings by name, every value a string
     */
    public static Map<String, String> settingsOf(Environment environment, Attributes server, String jettyHome)
    {
        Map<String, String> settings = new LinkedHashMap<>();
        Attributes deploy = environment != null ? environment : Attributes.NULL;
        for (String name : DEPLOY_SETTINGS)
        {
            Object value = deploy.getAttribute(name);
            if (value instanceof String[] array)
                settings.put(name, String.join(",", array));
            else if (value != null)
                settings.put(name, value.toString());
        }
        // What ee10-deploy sets when the base enables it and leaves its properties alone.
        settings.putIfAbsent(Deployable.CONTAINER_SCAN_JARS, DEFAULT_CONTAINER_SCAN_JARS);
        if (!settings.containsKey(Deployable.DEFAULTS_DESCRIPTOR) && jettyHome != null)
        {
            Path descriptor = Path.of(jettyHome).resolve(DEFAULT_DEFAULTS_DESCRIPTOR);
            if (Files.isRegularFile(descriptor))
                settings.put(Deployable.DEFAULTS_DESCRIPTOR, descriptor.toString());
        }
        Attributes serverAttributes = server != null ? server : Attributes.NULL;
        putPatterns(settings, WebAppClassLoading.HIDDEN_CLASSES_ATTRIBUTE, deploy.getAttribute(WebAppClassLoading.HIDDEN_CLASSES_ATTRIBUTE));
        putPatterns(settings, WebAppClassLoading.PROTECTED_CLASSES_ATTRIBUTE, deploy.getAttribute(WebAppClassLoading.PROTECTED_CLASSES_ATTRIBUTE));
        putPatterns(settings, SERVER_HIDDEN_CLASSES, serverAttributes.getAttribute(WebAppClassLoading.HIDDEN_CLASSES_ATTRIBUTE));
        putPatterns(settings, SERVER_PROTECTED_CLASSES, serverAttributes.getAttribute(WebAppClassLoading.PROTECTED_CLASSES_ATTRIBUTE));
        return settings;
    }

    private static void putPatterns(Map<String, String> settings, String name, Object value)
    {
        Set<String> patterns = new LinkedHashSet<>();
        if (value instanceof ClassMatcher matcher)
            patterns.addAll(Arrays.asList(matcher.getPatterns()));
        else if (value instanceof String[] array)
            patterns.addAll(Arrays.asList(array));
        if (!patterns.isEmpty())
            settings.put(name, String.join(",", patterns));
    }

    /**
     * <p>The worker's side: puts the settings on the worker's {@code ee10} environment, with the types
     * {@code ee10-deploy} gives them, and the server's class-loading patterns on the worker's server.</p>
     *
     * @param server the worker's server
     * @param environment the worker's {@code ee10} environment
     * @param settings the settings from {@link #settingsOf(Environment, Attributes, String)}
     * @throws IllegalArgumentException naming an unknown setting or a bad value
     */
    public static void configure(Server server, Environment environment, Map<String, String> settings)
    {
        environment.setAttribute(DEFAULT_CONTEXT_HANDLER_CLASS_ATTRIBUTE, WebAppContext.class.getName());
        settings.forEach((name, value) ->
        {
            if (BOOLEAN_SETTINGS.contains(name))
            {
                if (!"true".equals(value) && !"false".equals(value))
                    throw new IllegalArgumentException("deploy setting " + name + " is not true or false: " + value);
                environment.setAttribute(name, Boolean.valueOf(value));
            }
            else if (Deployable.CONFIGURATION_CLASSES.equals(name))
                environment.setAttribute(name, value.split(","));
            else if (DEPLOY_SETTINGS.contains(name))
                environment.setAttribute(name, value);
            else if (WebAppClassLoading.HIDDEN_CLASSES_ATTRIBUTE.equals(name))
                WebAppClassLoading.addHiddenClasses(environment, value.split(","));
            else if (WebAppClassLoading.PROTECTED_CLASSES_ATTRIBUTE.equals(name))
                WebAppClassLoading.addProtectedClasses(environment, value.split(","));
            else if (SERVER_HIDDEN_CLASSES.equals(name))
                WebAppClassLoading.addHiddenClasses(server, value.split(","));
            else if (SERVER_PROTECTED_CLASSES.equals(name))
                WebAppClassLoading.addProtectedClasses(server, value.split(","));
            else
                throw new IllegalArgumentException("unknown deploy setting: " + name);
        });
    }

    /**
     * <p>Builds the context as the deployer's {@code StandardContextHandlerFactory} builds one for a WAR or
     * a directory without a context XML: the app's attributes (its paths, its WAR, its base resource) laid
     * over the environment's, applied with {@link WebAppContext#initializeDefaults(Attributes)}, then all
     * copied into the context's attributes. The app is the vhost's whole site, so it is deployed at
     * {@code /}, as a {@code root.war} is.</p>
     *
     * @param app the WAR or the directory
     * @param environment the worker's {@code ee10} environment, configured with {@link #configure(Server, Environment, Map)}
     * @return the context, not started
     */
    public static WebAppContext newWebApp(Path app, Environment environment) throws IOException
    {
        Path main = app.toRealPath();
        Attributes appAttributes = new Attributes.Mapped();
        appAttributes.setAttribute(Deployable.MAIN_PATH, main);
        appAttributes.setAttribute(Deployable.OTHER_PATHS, Set.of(main));
        // Writes go to the app's layer: the environment stays as configured.
        Attributes attributes = new Attributes.Layer(environment, appAttributes);

        WebAppContext webApp = new WebAppContext();
        // As the deployer: a context at / already answers "ROOT".
        if (webApp.getDisplayName() == null)
            webApp.setDisplayName(FileID.getBasename(main));
        attributes.setAttribute(Deployable.DEFAULT_CONTEXT_PATH, "/");
        Resource resource = ResourceFactory.of(webApp).newResource(main);
        if (Resources.isDirectory(resource))
            webApp.setBaseResource(resource);
        else
            attributes.setAttribute(Deployable.BASE_RESOURCE, resource);
        if (FileID.isWebArchive(main))
            attributes.setAttribute(Deployable.WAR, main.toString());
        webApp.initializeDefaults(attributes);
        attributes.getAttributeNameSet().forEach(name -> webApp.setAttribute(name, attributes.getAttribute(name)));
        // A webapp that cannot start must fail the worker, so the front reports it instead of serving 503s.
        webApp.setThrowUnavailableOnStartupException(true);
        return webApp;
    }

    /**
     * @return the worker's {@code ee10} environment, the one {@link WebAppContext} takes its hidden and protected classes from
     */
    public static Environment environment()
    {
        return ServletContextHandler.ENVIRONMENT;
    }
}
