package org.jettyitk.examples.whoami;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

/**
 * <p>Shows what the code of this tenant runs as: the {@code Uid:}, {@code Gid:} and {@code Groups:} lines of
 * {@code /proc/self/status}, the connection as the servlet API reports it, and whether this tenant can read each
 * tenant's {@code secret.txt}.</p>
 * <p>It expects the layout of the jetty-itk demo: {@code <base>/<tenant>/www} is this webapp and
 * {@code <base>/<tenant>/secret.txt} a file only that tenant may read; with {@code ?read=/some/path} it tries
 * that path instead.</p>
 */
public class WhoAmIServlet extends HttpServlet
{
    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException
    {
        response.setContentType("text/plain;charset=utf-8");
        PrintWriter out = response.getWriter();
        out.printf("vhost: %s (%s://%s:%d, secure=%b, %s)%n", request.getServerName(), request.getScheme(),
            request.getServerName(), request.getServerPort(), request.isSecure(), request.getProtocol());
        out.printf("client: %s:%d%n", request.getRemoteAddr(), request.getRemotePort());
        for (String line : Files.readAllLines(Path.of("/proc/self/status")))
        {
            if (line.startsWith("Uid:") || line.startsWith("Gid:") || line.startsWith("Groups:"))
                out.println(line);
        }
        String read = request.getParameter("read");
        for (Path path : read != null ? List.of(Path.of(read)) : secrets())
        {
            out.printf("read %s: %s%n", path, tryRead(path));
        }
    }

    private List<Path> secrets() throws IOException
    {
        String root = getServletContext().getRealPath("/");
        if (root == null)
            return List.of();
        Path tenant = Path.of(root).toRealPath().getParent();
        Path base = tenant.getParent();
        List<Path> secrets = new java.util.ArrayList<>();
        try (DirectoryStream<Path> tenants = Files.newDirectoryStream(base))
        {
            for (Path dir : tenants)
            {
                Path secret = dir.resolve("secret.txt");
                if (Files.exists(secret, java.nio.file.LinkOption.NOFOLLOW_LINKS) || Files.isDirectory(dir))
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
        catch (IOException x)
        {
            return "error " + x;
        }
    }
}
