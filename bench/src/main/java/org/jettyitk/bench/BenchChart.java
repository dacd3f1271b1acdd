package org.jettyitk.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import javax.imageio.ImageIO;

/**
 * <p>Draws the benchmark's chart from {@code summary.tsv}: one bar per workload, the throughput of jetty-itk as
 * a fraction of plain Jetty's, with the parity line, the targets, and the req/s figures beside each
 * bar. Plain Java2D, so nothing beyond the JDK is needed.</p>
 * <pre>
 *   java -cp ... org.jettyitk.bench.BenchChart bench/results/summary.tsv bench/results/benchmarks.png ["subtitle"]
 * </pre>
 */
public final class BenchChart
{
    public static final String FILE_NAME = "benchmarks.png";
    private static final int WIDTH = 960;
    private static final int ROW = 34;
    private static final int TOP = 78;
    private static final int LEFT = 190;
    private static final int PLOT_WIDTH = 440;
    private static final int FIGURES = LEFT + PLOT_WIDTH + 70;
    private static final Color MET = new Color(0x3a8f4b);
    private static final Color MISSED = new Color(0xc8553d);
    private static final Color NEUTRAL = new Color(0x4a7bb7);
    private static final Color GRID = new Color(0xdddddd);
    private static final Color TEXT = new Color(0x222222);

    private BenchChart()
    {
    }

    public static void main(String[] args) throws IOException
    {
        if (args.length < 2)
        {
            System.err.println("usage: BenchChart summary.tsv out.png [subtitle]");
            System.exit(64);
        }
        draw(Path.of(args[0]), Path.of(args[1]), args.length > 2 ? args[2] : "");
    }

    private record Row(String content, String mode, double plainRps, double itkRps, double ratio, Double target)
    {
    }

    public static void draw(Path summaryTsv, Path png, String subtitle) throws IOException
    {
        System.setProperty("java.awt.headless", "true");
        List<Row> rows = new ArrayList<>();
        List<String> lines = Files.readAllLines(summaryTsv);
        List<String> header = List.of(lines.get(0).split("\t"));
        for (String line : lines.subList(1, lines.size()))
        {
            String[] cells = line.split("\t");
            String target = cells[header.indexOf("target")];
            rows.add(new Row(cells[header.indexOf("content")], cells[header.indexOf("mode")], Double.parseDouble(cells[header.indexOf("plain_rps")]),
                Double.parseDouble(cells[header.indexOf("itk_rps")]), Double.parseDouble(cells[header.indexOf("ratio")]),
                target.equals("-") ? null : Double.parseDouble(target)));
        }
        // A heading line before each group of rows with the same mode.
        List<Object> lineItems = new ArrayList<>();
        String mode = null;
        for (Row row : rows)
        {
            if (!row.mode().equals(mode))
            {
                mode = row.mode();
                lineItems.add(mode);
            }
            lineItems.add(row);
        }
        double max = Math.max(1.2, rows.stream().mapToDouble(Row::ratio).max().orElse(1) * 1.1);
        int plotBottom = TOP + lineItems.size() * ROW;
        int height = plotBottom + 56;
        BufferedImage image = new BufferedImage(WIDTH, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try
        {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, WIDTH, height);
            g.setColor(TEXT);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 17));
            g.drawString("Throughput of jetty-itk as a fraction of plain Jetty (same servlet, same machine, one run)", 16, 26);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
            g.drawString(subtitle, 16, 46);

            // Grid and axis labels every 0.2; parity with plain Jetty at 1.0.
            for (int tick = 0; tick <= (int)Math.floor(max * 5); tick++)
            {
                double value = tick / 5.0;
                int x = x(value, max);
                g.setColor(tick == 5 ? TEXT : GRID);
                g.setStroke(new BasicStroke(tick == 5 ? 1.5f : 1f));
                g.drawLine(x, TOP - 6, x, plotBottom);
                g.setColor(TEXT);
                String label = String.format(Locale.ROOT, "%.1f", value);
                g.drawString(label, x - g.getFontMetrics().stringWidth(label) / 2, plotBottom + 16);
            }
            g.drawString("= plain Jetty", x(1.0, max) + 4, TOP - 8);
            g.drawString("jetty-itk vs plain Jetty, median req/s", FIGURES, TOP - 8);

            for (int i = 0; i < lineItems.size(); i++)
            {
                int y = TOP + i * ROW;
                int baseline = y + ROW / 2 + 4;
                if (lineItems.get(i) instanceof String heading)
                {
                    g.setColor(TEXT);
                    g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 12));
                    g.drawString(heading, 16, baseline + 4);
                    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
                    continue;
                }
                Row row = (Row)lineItems.get(i);
                FontMetrics metrics = g.getFontMetrics();
                g.setColor(TEXT);
                g.drawString(row.content(), LEFT - 10 - metrics.stringWidth(row.content()), baseline);
                Color color = row.target() == null ? NEUTRAL : row.ratio() >= row.target() ? MET : MISSED;
                g.setColor(color);
                g.fillRect(x(0, max), y + 7, Math.max(1, x(row.ratio(), max) - x(0, max)), ROW - 14);
                g.setColor(TEXT);
                g.drawString(String.format(Locale.ROOT, "%.2f", row.ratio()), x(row.ratio(), max) + 4, baseline);
                if (row.target() != null)
                {
                    int tx = x(row.target(), max);
                    g.setStroke(new BasicStroke(3f));
                    g.drawLine(tx, y + 2, tx, y + ROW - 2);
                    g.setStroke(new BasicStroke(1f));
                }
                String figures = String.format(Locale.ROOT, "%s vs %s%s", count(row.itkRps()), count(row.plainRps()),
                    row.target() == null ? "" : String.format(Locale.ROOT, "   target %.1f", row.target()));
                g.drawString(figures, FIGURES, baseline);
            }
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            g.drawString("Bar: jetty-itk req/s divided by plain Jetty req/s. Black tick: the issue's target. Green: target met; red: missed; blue: no target.",
                16, plotBottom + 40);
        }
        finally
        {
            g.dispose();
        }
        ImageIO.write(image, "png", png.toFile());
    }

    private static int x(double value, double max)
    {
        return LEFT + (int)Math.round(value / max * PLOT_WIDTH);
    }

    private static String count(double rps)
    {
        return rps >= 100 ? String.format(Locale.ROOT, "%,.0f", rps) : String.format(Locale.ROOT, "%.1f", rps);
    }
}
