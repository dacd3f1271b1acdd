package org.jettyitk.internal.wire;

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
import org.eclipse.jetty.server.Deployable;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.util.Attributes;
import org.eclipse.jetty.util.ClassMatcher;
import org.eclipse.jetty.util.component.Environment;

/**
 * <p>The base's settings for deploying a webapp, as the front collects them from its own {@code ee10}
 * environment and server ({@link #settingsOf(Environment, Attributes, String)}) and sends them in every worker's
 * {@link WorkerArguments} ({@code --deploy name=value}). The worker puts them on its own environment
 * ({@code org.jettyitk.internal.worker.WebAppDeployment}), so that it deploys a WAR exactly as {@code ee10-deploy}
 * would on a plain Jetty base.</p>
 */
public final class DeploySettings
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

    private DeploySettings()
    {
    }

    /**
     * @param server the front's server
     * @return the deploy settings of the front's {@code ee10} environment and server, with its {@code jetty.home}
     * @see #settingsOf(Environment, Attributes, String)
     */
    public static Map<String, String> settingsOf(Server server)
    {
        return settingsOf(ServletContextHandler.ENVIRONMENT, server, System.getProperty("jetty.home"));
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
}
