package org.jettyitk.internal.worker;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

import org.eclipse.jetty.ee.webapp.WebAppClassLoading;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.webapp.WebAppContext;
import org.eclipse.jetty.server.Deployable;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.util.Attributes;
import org.eclipse.jetty.util.FileID;
import org.eclipse.jetty.util.component.Environment;
import org.eclipse.jetty.util.resource.Resource;
import org.eclipse.jetty.util.resource.ResourceFactory;
import org.eclipse.jetty.util.resource.Resources;
import org.jettyitk.internal.wire.DeploySettings;

/**
 * <p>Deploys a WAR or an exploded webapp in the worker as Jetty's {@code ee10-deploy} module deploys one in
 * {@code ${jetty.base}/webapps}: the same {@link WebAppContext}, the same deploy attributes, applied by Jetty's
 * own {@link Deployable#initializeDefaults(Attributes)}.</p>
 * <p>On a plain Jetty base, {@code etc/jetty-ee10-deploy.xml} puts the base's deploy settings (the
 * {@code jetty.deploy.*} properties, or their defaults) on the {@code ee10} {@link Environment}, and the
 * deployer's {@code StandardContextHandlerFactory} lays an app's own attributes (its paths, its WAR) over them,
 * calls {@code initializeDefaults} and copies them all into the context's attributes. The worker's JVM has no
 * start properties, so the front collects the settings from its own {@code ee10} environment
 * ({@link DeploySettings#settingsOf(Environment, Attributes, String)}), they travel as {@code --deploy name=value} arguments,
 * and the worker puts them on its own {@code ee10} environment ({@link #configure(Server, Environment, Map)}) before
 * it builds the context ({@link #newWebApp(Path, Environment)}).</p>
 * <table>
 *   <caption>The settings</caption>
 *   <tr><th>name</th><th>where the front takes it</th></tr>
 *   <tr><td>{@link Deployable} {@code jetty.deploy.*} settings</td><td>the front's {@code ee10} environment,
 *   where {@code ee10-deploy} put them when the base enables it; otherwise {@code ee10-deploy}'s defaults:
 *   {@link DeploySettings#DEFAULT_CONTAINER_SCAN_JARS} and {@code ${jetty.home}/etc/webdefault-ee10.xml}</td></tr>
 *   <tr><td>{@link WebAppClassLoading#HIDDEN_CLASSES_ATTRIBUTE}, {@link WebAppClassLoading#PROTECTED_CLASSES_ATTRIBUTE}</td>
 *   <td>the patterns of the front's {@code ee10} environment, which the base's modules added to
 *   ({@code jetty.webapp.addHiddenClasses}, for example {@code org.slf4j.} from the logging modules)</td></tr>
 *   <tr><td>{@link DeploySettings#SERVER_HIDDEN_CLASSES}, {@link DeploySettings#SERVER_PROTECTED_CLASSES}</td><td>the patterns of the front's
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
    /** The environment attribute naming the class of the contexts the deployer makes (jetty-deploy's {@code ContextHandlerFactory}). */
    public static final String DEFAULT_CONTEXT_HANDLER_CLASS_ATTRIBUTE = "jetty.deploy.defaultContextHandlerClass";
    private static final Set<String> BOOLEAN_SETTINGS = Set.of(Deployable.EXTRACT_WARS, Deployable.PARENT_LOADER_PRIORITY);

    private WebAppDeployment()
    {
    }

    /**
     * <p>The worker's side: puts the settings on the worker's {@code ee10} environment, with the types
     * {@code ee10-deploy} gives them, and the server's class-loading patterns on the worker's server.</p>
     *
     * @param server the worker's server
     * @param environment the worker's {@code ee10} environment
     * @param settings the settings from {@link DeploySettings#settingsOf(Environment, Attributes, String)}
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
            else if (DeploySettings.DEPLOY_SETTINGS.contains(name))
                environment.setAttribute(name, value);
            else if (WebAppClassLoading.HIDDEN_CLASSES_ATTRIBUTE.equals(name))
                WebAppClassLoading.addHiddenClasses(environment, value.split(","));
            else if (WebAppClassLoading.PROTECTED_CLASSES_ATTRIBUTE.equals(name))
                WebAppClassLoading.addProtectedClasses(environment, value.split(","));
            else if (DeploySettings.SERVER_HIDDEN_CLASSES.equals(name))
                WebAppClassLoading.addHiddenClasses(server, value.split(","));
            else if (DeploySettings.SERVER_PROTECTED_CLASSES.equals(name))
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
