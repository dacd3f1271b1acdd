package org.jettyitk.examples.whoami;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpSession;

/**
 * <p>Shows what the code of this tenant runs as: the {@code Uid:}, {@code Gid:} and {@code Groups:} lines of
 * {@code /proc/self/status}, the connection as the servlet API reports it, and whether this tenant can read each
 * tenant's {@code secret.txt}.</p>
 * <p>It looks for the layout of the jetty-itk examples: this webapp (a WAR or a directory) in
 * {@code <base>/<tenant>/}, and maybe a {@code <base>/<tenant>/secret.txt} only that tenant may read; it tries
 * each tenant's {@code secret.txt} that exists, or whose existence this tenant may not even see. With
 * {@code ?read=/some/path} it tries that path instead.</p>
 * <p>It counts the requests of each HTTP session ({@code visit N of session ID}): the count goes on when the
 * vhost's worker is reaped, recycled, replaced or killed, since the worker keeps sessions in the vhost's store.</p>
 */
public class WhoAmIServlet extends HttpServlet
{
    /**
     * Where Jetty's deployer (and a jetty-itk worker, which deploys as it does) says the deployed WAR or
     * directory is: the WAR itself, where {@code getRealPath("/")} is the directory it was extracted to.
     */
    private static final String DEPLOYED_PATH = "jetty.deploy.paths.main";
    private static final String VISITS = "visits";

    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException
    {
        response.setContentType("text/plain;charset=utf-8");
        PrintWriter out = response.getWriter();
        out.printf("vhost: %s (%s://%s:%d, secure=%b, %s)%n", request.getServerName(), request.getScheme(),
            request.getServerName(), request.getServerPort(), request.isSecure(), request.getProtocol());
        out.printf("client: %s:%d%n", request.getRemoteAddr(), request.getRemotePort());
        HttpSession session = request.getSession();
        Integer visits = (Integer)session.getAttribute(VISITS);
        int visit = visits == null ? 1 : visits + 1;
        session.setAttribute(VISITS, visit);
        out.printf("visit %d of session %s%n", visit, session.getId());
        for (String line : Files.readAllLines(Path.of("/proc/self/status")))
        {
            if (line.startsWith("Uid:") || line.startsWith("Gid:") || line.startsWith("Groups:"))
                out.println(line);
        }
        String read = request.getParameter("read");
        if (read != null)
        {
            Path path = Path.of(read);
            out.printf("read %s: %s%n", path, tryRead(path));
            return;
        }
        Path base = tenantsDirectory();
        List<Path> secrets = base == null ? List.of() : secrets(base);
        if (secrets.isEmpty())
            out.printf("secrets: no tenant's secret.txt in %s (write one beside a tenant's app to see who may read it)%n", base);
        for (Path path : secrets)
        {
            out.printf("read %s: %s%n", path, tryRead(path));
        }
    }

    /**
     * @return the directory of the tenants' directories: the parent of the directory holding this webapp, or null
     */
    private Path tenantsDirectory() throws IOException
    {
        Object deployed = getServletContext().getAttribute(DEPLOYED_PATH);
        String app = deployed != null ? deployed.toString() : getServletContext().getRealPath("/");
        if (app == null)
            return null;
        Path tenant = Path.of(app).toRealPath().getParent();
        return tenant == null ? null : tenant.getParent();
    }

    private static List<Path> secrets(Path base) throws IOException
    {
        List<Path> secrets = new ArrayList<>();
        try (DirectoryStream<Path> tenants = Files.newDirectoryStream(base, Files::isDirectory))
        {
            for (Path dir : tenants)
            {
                Path secret = dir.resolve("secret.txt");
                // Neither exists nor surely absent: this tenant may not look, which is worth showing.
                if (Files.exists(secret, LinkOption.NOFOLLOW_LINKS) || !Files.notExists(secret, LinkOption.NOFOLLOW_LINKS))
                    secrets.add(secret);
            }
        }
        catch (AccessDeniedException x)
        {
            return List.of();
        }
        secrets.sort(null);
        return secrets;
    }

    private static String tryRead(Path path)
    {
        try
        {
            return "READABLE (" + Files.readString(path).strip() + ")";
        }
        catch (AccessDeniedException x)
        {
            return "denied";
        }
        catch (NoSuchFileException x)
        {
            return "no such file";
        }
        catch (IOException x)
        {
            return "error " + x;
        }
    }
}
