"""Hand-written rewrites of 62 benchmark items (issue 19): reworded, story changed (numbers kept), translated.

Written for this set by the helper that built it (a language model), from the problem texts in
../shared/data; each keeps the problem's mathematical content: every number, every expression, the asked
quantity. `build.py` turns them into rows of `rephrased.jsonl`. Keys: (benchmark, item_id as the shared
loader gives it: AIME 2024 `id`, AIME 2025 line, MATH-500 `unique_id`, LiveCodeBench `question_id`).
Translations rotate through French, Spanish, German, Portuguese, Italian and Chinese.
"""

HAND = {
    # ---------------------------------------------------------------- AIME 2024
    ("aime24", "72"): {
        "reworded": r"Over all complex numbers $z$ of modulus 4, what is the maximum value of the real part of $(75+117i)z+\frac{96+144i}{z}$?",
        "story": r"A signal engineer models a circuit by a complex number $z$ whose magnitude is fixed at $|z|=4$. The circuit's output is $(75+117i)z+\frac{96+144i}{z}$, and only its real part is measured. What is the largest real part the engineer can observe?",
        "translated": r"Trouver la plus grande partie réelle possible de $(75+117i)z+\frac{96+144i}{z}$, où $z$ est un nombre complexe tel que $|z|=4$.",
    },
    ("aime24", "79"): {
        "reworded": r"Take $\omega$ to be a 13th root of unity other than 1. Compute $\prod_{k=0}^{12}(2-2\omega^k+\omega^{2k})$ modulo 1000.",
        "story": r"A cryptographer picks $\omega$, a 13th root of unity different from 1, and multiplies the thirteen factors $2-2\omega^k+\omega^{2k}$ for $k=0,1,\dots,12$. Her key is the remainder of that product on division by 1000. What is the key?",
        "translated": r"Sea $\omega\neq 1$ una raíz 13-ésima de la unidad. Halla el resto de dividir $\prod_{k=0}^{12}(2-2\omega^k+\omega^{2k})$ entre 1000.",
    },
    ("aime24", "67"): {
        "reworded": r"Real numbers $x$ and $y$, each larger than 1, satisfy $\log_x(y^x)=10$ and $\log_y(x^{4y})=10$. What is the product $xy$?",
        "story": r"Two gears turn at rates $x$ and $y$, both above 1. An engineer notices that $\log_x(y^x)$ and $\log_y(x^{4y})$ both equal 10. Compute the product $xy$ of the two rates.",
        "translated": r"Es gibt reelle Zahlen $x$ und $y$, beide größer als 1, mit $\log_x(y^x)=\log_y(x^{4y})=10$. Bestimme $xy$.",
    },
    ("aime24", "76"): {
        "reworded": r"In triangle $ABC$ the circumradius is 13 and the inradius is 6, and the segment $IA$ from the incenter is perpendicular to $OI$, where $O$ is the circumcenter. Compute $AB\cdot AC$.",
        "story": r"A surveyor lays out a triangular field $ABC$. The circle through its three corners has radius 13, the largest circle inside it has radius 6, and the line from the inner circle's center $I$ to corner $A$ is perpendicular to the line joining $I$ to the outer circle's center $O$. What is the product of the fence lengths $AB$ and $AC$?",
        "translated": r"Seja $ABC$ um triângulo com circuncentro $O$ e incentro $I$ tais que $\overline{IA}\perp\overline{OI}$, circunraio 13 e inraio 6. Encontre $AB\cdot AC$.",
    },
    ("aime24", "70"): {
        "reworded": r"Two rectangles $ABCD$ and $EFGH$ are placed so that points $D, E, C, F$ lie on one line, and $A, D, H, G$ are concyclic. Given $BC=16$, $AB=107$, $FG=17$ and $EF=184$, find $CE$.",
        "story": r"An architect draws two rectangular rooms, $ABCD$ and $EFGH$, with the corners $D, E, C, F$ along one straight wall, and the corners $A, D, H, G$ on a single circular arch. If $BC=16$, $AB=107$, $FG=17$, and $EF=184$, how long is the stretch $CE$ of the wall?",
        "translated": r"I rettangoli $ABCD$ ed $EFGH$ sono disegnati in modo che $D,E,C,F$ siano allineati, e $A,D,H,G$ giacciano su una circonferenza. Se $BC=16$, $AB=107$, $FG=17$ ed $EF=184$, quanto vale $CE$?",
    },
    ("aime24", "77"): {
        "reworded": r"How many ordered triples $(a,b,c)$ of nonnegative integers have $a+b+c=300$ and $a^2b+a^2c+b^2a+b^2c+c^2a+c^2b=6{,}000{,}000$?",
        "story": r"Three shops $a$, $b$, $c$ share 300 identical crates (a shop may get none), so $a+b+c=300$. The auditor's index $a^2b + a^2c + b^2a + b^2c + c^2a + c^2b$ came out to exactly 6,000,000. In how many ordered ways could the crates have been split?",
        "translated": r"求满足 $a+b+c=300$ 且 $a^2b+a^2c+b^2a+b^2c+c^2a+c^2b=6,000,000$ 的非负整数三元组 $(a,b,c)$ 的个数。",
    },
    ("aime24", "63"): {
        "reworded": r"With $f(x)=||x|-\tfrac{1}{2}|$ and $g(x)=||x|-\tfrac{1}{4}|$, count the points where the curves $y=4g(f(\sin(2\pi x)))$ and $x=4g(f(\cos(3\pi y)))$ meet.",
        "story": r"Two robots trace curves on a plotter. The first follows $y=4 g(f(\sin (2 \pi x)))$ and the second follows $x=4 g(f(\cos (3 \pi y)))$, where $f(x)=|| x|-\tfrac{1}{2}|$ and $g(x)=|| x|-\tfrac{1}{4}|$. At how many points do their paths cross?",
        "translated": r"On définit $f(x)=|| x|-\tfrac{1}{2}|$ et $g(x)=|| x|-\tfrac{1}{4}|$. Trouver le nombre de points d'intersection des courbes $y=4 g(f(\sin (2 \pi x)))$ et $x=4 g(f(\cos (3 \pi y)))$.",
    },
    ("aime24", "64"): {
        "reworded": r"Let $p$ be the smallest prime such that $p^2$ divides $n^4+1$ for some positive integer $n$. What is the smallest positive integer $m$ with $p^2 \mid m^4+1$?",
        "story": r"A number theorist looks for the least prime $p$ whose square $p^2$ divides $n^{4}+1$ for some positive whole number $n$. Having found it, she wants the least positive integer $m$ for which $m^{4}+1$ is a multiple of $p^{2}$. Which $m$ does she find?",
        "translated": r"Sea $p$ el menor número primo para el que existe un entero positivo $n$ tal que $n^{4}+1$ es divisible por $p^{2}$. Encuentra el menor entero positivo $m$ tal que $m^{4}+1$ es divisible por $p^{2}$.",
    },
    ("aime24", "85"): {
        "reworded": r"A convex hexagon ABCDEF has all sides equal and each pair of opposite sides parallel. Extending the sides AB, CD and EF forms a triangle with sides 200, 240 and 300. What is the hexagon's side length?",
        "story": r"A tile maker cuts a convex hexagonal tile ABCDEF with six equal edges, opposite edges parallel. When she extends edges AB, CD and EF with a ruler, the three lines form a triangle whose sides measure 200, 240 and 300. How long is each edge of the tile?",
        "translated": r"Sei ABCDEF ein konvexes gleichseitiges Sechseck, in dem alle Paare gegenüberliegender Seiten parallel sind. Das Dreieck, dessen Seiten die Verlängerungen der Strecken AB, CD und EF sind, hat die Seitenlängen 200, 240 und 300. Bestimme die Seitenlänge des Sechsecks.",
    },
    ("aime24", "71"): {
        "reworded": r"On an $8\times 8$ grid, consider the lattice paths of length 16 from the bottom-left corner to the top-right corner. How many of them turn exactly four times?",
        "story": r"A taxi drives from the south-west corner to the north-east corner of a city laid out as an $8\times 8$ grid of blocks, always along streets, covering exactly 16 blocks. How many such routes have the driver change direction exactly four times?",
        "translated": r"Considere os caminhos de comprimento 16 que seguem as linhas do canto inferior esquerdo ao canto superior direito de uma grade $8\times 8$. Encontre o número desses caminhos que mudam de direção exatamente quatro vezes.",
    },
    ("aime24", "74"): {
        "reworded": r"Points $A$, $B$, $C$, $D$ on the hyperbola $\frac{x^2}{20}-\frac{y^2}{24}=1$ form a rhombus $ABCD$ whose diagonals cross at the origin. What is the greatest real number that is smaller than $BD^2$ for every such rhombus?",
        "story": r"Four lighthouses $A$, $B$, $C$, $D$ stand on the coastline $\frac{x^2}{20}- \frac{y^2}{24} = 1$ and form a rhombus $ABCD$ whose diagonals meet at the harbor at the origin. Find the greatest real number that is below $BD^2$ for all such arrangements.",
        "translated": r"Siano $A$, $B$, $C$ e $D$ punti dell'iperbole $\frac{x^2}{20}- \frac{y^2}{24} = 1$ tali che $ABCD$ sia un rombo le cui diagonali si intersecano nell'origine. Trovare il più grande numero reale minore di $BD^2$ per tutti questi rombi.",
    },
    ("aime24", "86"): {
        "reworded": r"A set $A$ of positive integers is chosen. Bob writes down every finite nonempty set $B$ of positive integers whose largest element lies in $A$, and he writes 2024 sets in total. What is the sum of the elements of $A$?",
        "story": r"A librarian chooses a set $A$ of shelf numbers (positive integers). Her assistant then lists every finite nonempty collection $B$ of shelf numbers whose highest shelf belongs to $A$; the list has 2024 collections. What is the sum of the shelf numbers in $A$?",
        "translated": r"Alice choisit un ensemble $A$ d'entiers strictement positifs. Bob dresse ensuite la liste de tous les ensembles finis non vides $B$ d'entiers positifs dont le plus grand élément appartient à $A$. La liste de Bob contient 2024 ensembles. Trouver la somme des éléments de $A$.",
    },
    ("aime24", "87"): {
        "reworded": r"$N$ is the largest four-digit positive integer such that changing any one of its digits to 1 always yields a multiple of 7. Writing $N=1000Q+R$ with $0\le R<1000$, find $Q+R$.",
        "story": r"A locksmith wants the biggest four-digit code $N$ with this property: if any single digit of the code is replaced by a $1$, the new code is divisible by $7$. With $Q$ and $R$ the quotient and remainder of $N$ divided by $1000$, what is $Q+R$?",
        "translated": r"Sea $N$ el mayor entero positivo de cuatro cifras con la propiedad de que, siempre que una de sus cifras se cambia por $1$, el número resultante es divisible por $7$. Sean $Q$ y $R$ el cociente y el resto de dividir $N$ entre $1000$. Halla $Q+R$.",
    },
    ("aime24", "82"): {
        "reworded": r"A list of positive integers sums to 30, has 9 as its unique mode, and its median is a positive integer not in the list. What is the sum of the squares of the list's entries?",
        "story": r"A teacher records the number of books each student read: the counts add up to $30$, the only most frequent count is $9$, and the median count is a positive integer that nobody actually read. What is the sum of the squares of all the recorded counts?",
        "translated": r"Eine Liste positiver ganzer Zahlen hat folgende Eigenschaften: Die Summe der Einträge ist $30$. Der eindeutige Modus der Liste ist $9$. Der Median der Liste ist eine positive ganze Zahl, die selbst nicht in der Liste vorkommt. Bestimme die Summe der Quadrate aller Einträge.",
    },
    ("aime24", "66"): {
        "reworded": r"Consider all rectangular boxes with surface area 54 and volume 23, and let $r$ be the radius of the smallest sphere that can hold any one of them. If $r^2=\frac{p}{q}$ in lowest terms, find $p+q$.",
        "story": r"A packaging company makes boxes that all have surface area $54$ and volume $23$ but various shapes. It wants one spherical shell of radius $r$, as small as possible, that fits every such box. Writing $r^2=\frac{p}{q}$ with $p$ and $q$ coprime positive integers, what is $p+q$?",
        "translated": r"Seja $\mathcal{B}$ o conjunto das caixas retangulares com área de superfície $54$ e volume $23$. Seja $r$ o raio da menor esfera que pode conter cada uma das caixas de $\mathcal{B}$. O valor de $r^2$ pode ser escrito como $\frac{p}{q}$, com $p$ e $q$ primos entre si. Encontre $p+q$.",
    },
    # ---------------------------------------------------------------- AIME 2025
    ("aime25", "0"): {
        "reworded": r"For which integer bases $b>9$ does $17_b$ divide $97_b$? Give the sum of all such bases.",
        "story": r"An alien civilization writes numbers in base $b$, with $b>9$. Their scholars note that the number they write as $17_b$ evenly divides the one they write as $97_b$. Add up every base $b$ for which this happens.",
        "translated": r"Trouver la somme de toutes les bases entières $b>9$ pour lesquelles $17_b$ divise $97_b$.",
    },
    ("aime25", "16"): {
        "reworded": r"Determine the sum of every positive integer $n$ for which $3(n+3)(n^2+9)$ is divisible by $n+2$.",
        "story": r"A baker packs $3(n + 3)(n^2 + 9)$ cookies into boxes of $n + 2$ cookies each, for a positive whole number $n$, and wants no cookie left over. Add up all the values of $n$ for which that works.",
        "translated": r"Halla la suma de todos los enteros positivos $n$ tales que $n + 2$ divide al producto $3(n + 3)(n^2 + 9)$.",
    },
    ("aime25", "3"): {
        "reworded": r"Count the integer pairs $(x,y)$ with $-100\le x,y\le 100$ that satisfy $12x^2-xy-6y^2=0$.",
        "story": r"A game board has integer coordinates from $-100$ to $100$ on both axes, inclusive. A square $(x,y)$ is lit when $12x^2-xy-6y^2=0$. How many lit squares (ordered pairs) are there?",
        "translated": r"Bestimme die Anzahl der geordneten Paare $(x,y)$ ganzer Zahlen zwischen $-100$ und $100$ einschließlich mit $12x^2-xy-6y^2=0$.",
    },
    ("aime25", "23"): {
        "reworded": r"The function $f(x)=\sin(7\pi\cdot\sin(5x))$ vanishes at $n$ points $x$ with $0<x<2\pi$, and at $t$ of them its graph touches the $x$-axis tangentially. Compute $n+t$.",
        "story": r"A sound engineer models a wave by $f(x)=\sin(7\pi\cdot\sin(5x))$ on the time window $0<x<2\pi$. The wave is silent ($f(x)=0$) at $n$ instants, and at $t$ of those instants it just touches zero without crossing, its graph tangent to the $x$-axis. What is $n+t$?",
        "translated": r"Existem $n$ valores de $x$ no intervalo $0<x<2\pi$ em que $f(x)=\sin(7\pi\cdot\sin(5x))=0$. Para $t$ desses $n$ valores de $x$, o gráfico de $y=f(x)$ é tangente ao eixo $x$. Encontre $n+t$.",
    },
    ("aime25", "25"): {
        "reworded": r"$S$ is the vertex set of a regular $24$-gon. In how many ways can one draw $12$ segments, all of the same length, so that every vertex of $S$ is an endpoint of exactly one segment?",
        "story": r"Twenty-four dancers stand at the corners of a regular $24$-gon and must form $12$ couples, each couple holding a ribbon stretched between them, and all $12$ ribbons must have equal length. How many ways can the couples be formed so that every dancer holds exactly one ribbon?",
        "translated": r"Sia $S$ l'insieme dei vertici di un $24$-agono regolare. Trovare il numero di modi di tracciare $12$ segmenti di uguale lunghezza in modo che ogni vertice di $S$ sia estremo di esattamente uno dei $12$ segmenti.",
    },
    ("aime25", "14"): {
        "reworded": r"How many ordered triples $(a,b,c)$ of positive integers with $a,b,c\le 3^6$ have $3^7 \mid a^3+b^3+c^3$? Give that count modulo $1000$.",
        "story": r"Three players each pick a whole number from 1 to $3^6$. They win when the sum of the cubes of their numbers, $a^3 + b^3 + c^3$, is a multiple of $3^7$. If $N$ is the number of winning ordered picks $(a, b, c)$, what is $N$ modulo $1000$?",
        "translated": r"设 $N$ 为满足 $a, b, c \leq 3^6$ 且 $a^3 + b^3 + c^3$ 是 $3^7$ 的倍数的正整数有序三元组 $(a, b, c)$ 的个数。求 $N$ 除以 $1000$ 的余数。",
    },
    ("aime25", "15"): {
        "reworded": r"Points $A, B, C, D, E, F$ lie on a line in this order, and $G$ is off the line. Given $AC=26$, $BD=22$, $CE=31$, $DF=33$, $AF=73$, $CG=40$ and $DG=30$, compute the area of triangle $BGE$.",
        "story": r"Six bus stops $A, B, C, D, E, F$ lie along a straight road in that order, and a radio tower $G$ stands off the road. The distances are $AC=26$, $BD=22$, $CE=31$, $DF=33$, $AF=73$, $CG=40$ and $DG=30$. What is the area of the triangle formed by stop $B$, the tower $G$ and stop $E$?",
        "translated": r"Seis puntos $A, B, C, D, E$ y $F$ están sobre una recta en ese orden. Sea $G$ un punto fuera de la recta tal que $AC=26, BD=22, CE=31, DF=33, AF=73, CG=40$ y $DG=30$. Halla el área del triángulo $BGE$.",
    },
    ("aime25", "4"): {
        "reworded": r"Among the $8!=40320$ eight-digit numbers using each of the digits $1,2,3,4,5,6,7,8$ once, let $N$ count those divisible by $22$. Compute $N-2025$.",
        "story": r"A lottery issues tickets numbered with the $8! = 40320$ eight-digit numbers that use each digit $1, 2, 3, 4, 5, 6, 7, 8$ exactly once. A ticket wins if its number is divisible by $22$. If $N$ tickets win, what is the difference between $N$ and $2025$?",
        "translated": r"Es gibt $8!= 40320$ achtstellige positive ganze Zahlen, die jede der Ziffern $1, 2, 3, 4, 5, 6, 7, 8$ genau einmal verwenden. Sei $N$ die Anzahl dieser Zahlen, die durch $22$ teilbar sind. Bestimme die Differenz zwischen $N$ und $2025$.",
    },
    ("aime25", "5"): {
        "reworded": r"A circle of radius $3$ is inscribed in an isosceles trapezoid of area $72$, touching all four sides. The parallel sides have unequal lengths $r$ and $s$. What is $r^2+s^2$?",
        "story": r"A jeweler cuts an isosceles trapezoid pendant of area $72$ that holds a round gem of radius $3$ touching all four edges. The two parallel edges have different lengths $r$ and $s$. Compute $r^2+s^2$.",
        "translated": r"Um trapézio isósceles tem uma circunferência inscrita tangente a cada um dos seus quatro lados. O raio da circunferência é $3$ e a área do trapézio é $72$. Sejam $r$ e $s$, com $r \neq s$, os comprimentos dos lados paralelos. Encontre $r^2+s^2$.",
    },
    ("aime25", "24"): {
        "reworded": r"In a row of $16$ chairs, eight people sit down so that nobody sits next to two other people. Let $N$ be the number of possible sets of $16$ chairs' occupied seats, i.e. subsets of the $16$ chairs that could be chosen. Find $N \bmod 1000$.",
        "story": r"A cinema has a single row of $16$ seats. Eight friends each take a seat, making sure that no one ends up between two neighbours on both sides. If $N$ is the number of subsets of the $16$ seats that could be occupied, what is the remainder of $N$ divided by $1000$?",
        "translated": r"Sedici sedie sono disposte in fila. Otto persone scelgono ciascuna una sedia su cui sedersi in modo che nessuno sieda accanto a due altre persone. Sia $N$ il numero di sottoinsiemi delle $16$ sedie che potrebbero essere scelti. Trovare il resto della divisione di $N$ per $1000$.",
    },
    ("aime25", "29"): {
        "reworded": r"For exactly three positive reals $k$, the function $f(x)=\frac{(x-18)(x-72)(x-98)(x-k)}{x}$ on $x>0$ attains its minimum at exactly two points. What is the sum of those three $k$?",
        "story": r"An economist models cost by $f(x)=\frac{(x-18)(x-72)(x-98)(x-k)}{x}$ for positive output $x$, with a tunable parameter $k>0$. Exactly three values of $k$ make the minimum cost occur at exactly two different outputs. Find the sum of these three values of $k$.",
        "translated": r"Il existe exactement trois nombres réels positifs $k$ tels que la fonction $f(x)=\frac{(x-18)(x-72)(x-98)(x-k)}{x}$, définie sur les réels positifs, atteigne son minimum en exactement deux réels positifs $x$. Trouver la somme de ces trois valeurs de $k$.",
    },
    ("aime25", "28"): {
        "reworded": r"Triangle $ABC$ has a right angle at $A$ and hypotenuse $BC=38$. Inside it are points $K$ and $L$ with $AK=AL=BK=CL=KL=14$. The area of $BKLC$ equals $n\sqrt3$ for a positive integer $n$; find $n$.",
        "story": r"A park is shaped like a right triangle $ABC$ with the right angle at $A$ and the long side $BC = 38$. Two fountains $K$ and $L$ inside the park satisfy $AK = AL = BK = CL = KL = 14$. The lawn $BKLC$ has area $n\sqrt3$ for a positive integer $n$. What is $n$?",
        "translated": r"Sea ${\triangle ABC}$ un triángulo rectángulo con $\angle A = 90^\circ$ y $BC = 38$. Existen puntos $K$ y $L$ dentro del triángulo tales que $AK = AL = BK = CL = KL = 14$. El área del cuadrilátero $BKLC$ se puede expresar como $n\sqrt3$ para algún entero positivo $n$. Halla $n$.",
    },
    # ---------------------------------------------------------------- MATH-500
    ("math500", "test/intermediate_algebra/1197.json"): {
        "reworded": r"A degree-5 polynomial $p(x)$ satisfies $p(n)=\frac{n}{n^2-1}$ for each $n$ in $\{2,3,4,5,6,7\}$. What is $p(8)$?",
        "story": r"A data scientist fits a polynomial $p(x)$ of degree 5 through six measurements: at $n = 2,$ 3, 4, 5, 6, 7 the value was $\frac{n}{n^2 - 1}$. What does her polynomial predict at $n=8$, that is, what is $p(8)$?",
        "translated": r"Soit $p(x)$ un polynôme de degré 5 tel que $p(n) = \frac{n}{n^2 - 1}$ pour $n = 2,$ 3, 4, $\dots,$ 7. Calculer $p(8)$.",
    },
    ("math500", "test/precalculus/779.json"): {
        "reworded": r"Rotate the complex number $7+2i$ by $90^\circ$ counter-clockwise about the origin. Which complex number results?",
        "story": r"A drone hovers at the point $7 + 2i$ of the complex plane. Its controller turns it $90^\circ$ counter-clockwise around the launch pad at the origin. At which complex number is the drone now?",
        "translated": r"Se aplica una rotación de $90^\circ$ alrededor del origen en sentido antihorario al número $7 + 2i.$ ¿Cuál es el número complejo resultante?",
    },
    ("math500", "test/intermediate_algebra/1454.json"): {
        "reworded": r"Minimize $\sqrt{x^2+400}+\sqrt{y^2+900}+\sqrt{x^2+y^2-80x-100y+4100}$ over $0\le x\le 40$ and $0\le y\le 50$.",
        "story": r"A cable must be laid whose total length, for design parameters $0 \le x \le 40$ and $0 \le y \le 50$, is $\sqrt{x^2 + 400} + \sqrt{y^2 + 900} + \sqrt{x^2 + y^2 - 80x - 100y + 4100}$. What is the shortest possible cable?",
        "translated": r"Für $0 \le x \le 40$ und $0 \le y \le 50$ bestimme man den kleinsten Wert von $\sqrt{x^2 + 400} + \sqrt{y^2 + 900} + \sqrt{x^2 + y^2 - 80x - 100y + 4100}$.",
    },
    ("math500", "test/intermediate_algebra/1168.json"): {
        "reworded": r"Compute $|(1-i)^8|$.",
        "story": r"Before her chess match, Grandmaster Olga warmed up by evaluating $|(1-i)^8|$ in her head. What number should she have found?",
        "translated": r"Calcule $|(1-i)^8|$ antes de sair para o campo. Qual é o resultado?",
    },
    ("math500", "test/precalculus/1146.json"): {
        "reworded": r"Constants $a$, $b$, $c$, $d$ make $(\sin x)^7 = a\sin 7x + b\sin 5x + c\sin 3x + d\sin x$ an identity in $x$. Determine $d$.",
        "story": r"An acoustics student decomposes the signal $(\sin x)^7$ into pure tones: $(\sin x)^7 = a \sin 7x + b \sin 5x + c \sin 3x + d \sin x$ for every angle $x$, with constants $a$, $b$, $c$, $d$. What is the coefficient $d$ of the fundamental tone?",
        "translated": r"Esistono costanti $a$, $b$, $c$ e $d$ tali che $(\sin x)^7 = a \sin 7x + b \sin 5x + c \sin 3x + d \sin x$ per ogni angolo $x$. Trovare $d$.",
    },
    ("math500", "test/counting_and_probability/1114.json"): {
        "reworded": r"Roll two fair 6-sided dice. Find the probability, as a common fraction, that the product of the numbers rolled is a multiple of 5.",
        "story": r"At a fair, you throw two fair 6-sided dice and win a prize if the product of the two numbers shown is divisible by 5. What is your probability of winning, as a common fraction?",
        "translated": r"Se lanzan dos dados justos de 6 caras. ¿Cuál es la probabilidad de que el producto de los dos números sea múltiplo de 5? Expresa la respuesta como fracción común.",
    },
    ("math500", "test/prealgebra/1761.json"): {
        "reworded": r"Dividing $10$ by $\frac{2}{3}$ is the same as multiplying $10$ by which number?",
        "story": r"A chef needs to split $10$ cups of flour into portions of $\frac{2}{3}$ cup but forgot how to divide by a fraction. By what number should she multiply $10$ instead to get the number of portions?",
        "translated": r"Rémi veut diviser $10$ par $\frac{2}{3}$, mais il ne se souvient plus comment faire. Par quel nombre doit-il multiplier $10$ pour obtenir le résultat ?",
    },
    ("math500", "test/intermediate_algebra/1063.json"): {
        "reworded": r"Define $F(z)=\frac{z+i}{z-i}$ for complex $z\ne i$, and set $z_n=F(z_{n-1})$ for $n\ge 1$. If $z_0=\frac{1}{137}+i$, what is $z_{2002}$?",
        "story": r"A video game moves a cursor in the complex plane: each turn, a cursor at $z$ jumps to $F(z)=\frac{z+i}{z-i}$ (never starting at $z=i$). The cursor begins at $z_0=\frac 1{137}+i$, and $z_n=F(z_{n-1})$ after turn $n$. Where is it after turn 2002, i.e. what is $z_{2002}$?",
        "translated": r"Seja $F(z)=\frac{z+i}{z-i}$ para todo número complexo $z\not= i$, e seja $z_n=F(z_{n-1})$ para todo inteiro positivo $n$. Sabendo que $z_0=\frac 1{137}+i$, encontre $z_{2002}$.",
    },
    ("math500", "test/prealgebra/1297.json"): {
        "reworded": r"How many trailing zeros does $42!$ have when written in base ten? (Recall that $n!$ is $1\cdot 2\cdots n$; e.g. $5!=120$.)",
        "story": r"A librarian multiplies the page counts $1, 2, 3, \dots, 42$ together, getting $42!$. How many zeros are at the end of her result? (For example, $5!=5\cdot 4\cdot3\cdot2\cdot 1= 120$.)",
        "translated": r"Wie viele Nullen stehen am Ende von $42!$ (42 Fakultät)? (Zur Erinnerung: $n!$ ist das Produkt der ganzen Zahlen von 1 bis $n$, zum Beispiel $5!=5\cdot 4\cdot3\cdot2\cdot 1= 120$.)",
    },
    ("math500", "test/counting_and_probability/803.json"): {
        "reworded": r"Choose a point $(x,y)$ uniformly at random from the rectangle $0\le x\le 8$, $0\le y\le 4$. What is the probability, as a common fraction, that $x+y\le 4$?",
        "story": r"A raindrop lands at a uniformly random spot $(x,y)$ on a rectangular roof with $0 \le x \le 8$ and $0 \le y \le 4$. The drain collects it if $x+y \le 4$. What is the probability the drain collects the drop? Answer as a common fraction.",
        "translated": r"Si sceglie a caso un punto $(x,y)$ tale che $0 \le x \le 8$ e $0 \le y \le 4$. Qual è la probabilità che $x+y \le 4$? Esprimere la risposta come frazione.",
    },
    ("math500", "test/algebra/478.json"): {
        "reworded": r"A cone's volume is $V=\frac{1}{3}Bh$ with $B$ the base area and $h$ the height. If the base area is 30 square units and the height is 6.5 units, how many cubic units is the volume?",
        "story": r"An ice-cream shop's cones have base area 30 square units and height 6.5 units, and the volume of a cone is $V = \frac{1}{3}Bh$ where $B$ is the base area and $h$ the height. How many cubic units of ice cream fill one cone?",
        "translated": r"El volumen de un cono viene dado por $V = \frac{1}{3}Bh$, donde $B$ es el área de la base y $h$ la altura. El área de la base de un cono es 30 unidades cuadradas y su altura es 6.5 unidades. ¿Cuántas unidades cúbicas mide su volumen?",
    },
    ("math500", "test/precalculus/659.json"): {
        "reworded": r"Give the plane through $(0,-1,-1)$, $(-4,4,4)$ and $(4,5,1)$ in the form $Ax+By+Cz+D=0$ with integers $A>0$ and $\gcd(|A|,|B|,|C|,|D|)=1$.",
        "story": r"Three drones hover at $(0,-1,-1),$ $(-4,4,4),$ and $(4,5,1)$. Find the equation of the flat sheet (plane) passing through all three, written as $Ax + By + Cz + D = 0$ with integers $A > 0$ and $\gcd(|A|,|B|,|C|,|D|) = 1$.",
        "translated": r"Trouver l'équation du plan contenant les points $(0,-1,-1),$ $(-4,4,4),$ et $(4,5,1).$ Donner la réponse sous la forme $Ax + By + Cz + D = 0,$ où $A,$ $B,$ $C,$ $D$ sont des entiers tels que $A > 0$ et $\gcd(|A|,|B|,|C|,|D|) = 1.$",
    },
    ("math500", "test/precalculus/190.json"): {
        "reworded": r"Evaluate the product $\sin 20^\circ \sin 40^\circ \sin 60^\circ \sin 80^\circ \sin 100^\circ \sin 120^\circ \sin 140^\circ \sin 160^\circ$.",
        "story": r"A surveyor multiplies the sines of eight angles she measured: $20^\circ, 40^\circ, 60^\circ, 80^\circ, 100^\circ, 120^\circ, 140^\circ$ and $160^\circ$. What is the value of $\sin 20^\circ \sin 40^\circ \sin 60^\circ \sin 80^\circ \sin 100^\circ \sin 120^\circ \sin 140^\circ \sin 160^\circ$?",
        "translated": r"求 $\sin 20^\circ \sin 40^\circ \sin 60^\circ \sin 80^\circ \sin 100^\circ \sin 120^\circ \sin 140^\circ \sin 160^\circ$ 的值。",
    },
    ("math500", "test/intermediate_algebra/1837.json"): {
        "reworded": r"With $f(x)=x^3-49x^2+623x-2015$ and $g(x)=f(x+5)$, what is the sum of the roots of $g$?",
        "story": r"An engineer's model is the cubic $f(x) = x^3 - 49x^2 + 623x - 2015$. After shifting the clock by five units she uses $g(x) = f(x + 5)$ instead. What is the sum of the roots of $g$?",
        "translated": r"Sia $f$ la funzione definita da $f(x) = x^3 - 49x^2 + 623x - 2015,$ e sia $g(x) = f(x + 5).$ Calcolare la somma delle radici di $g.$",
    },
    ("math500", "test/algebra/1787.json"): {
        "reworded": r"Twelve friends each ordered a meal, but the portions would have fed 18 people. Sharing the food, how many meals should the 12 of them have ordered to have exactly enough?",
        "story": r"Twelve hikers each ordered a trail lunch at the lodge, but each lunch was so big that together they could have fed 18 people. If they share, how many lunches should they have ordered to have just enough food for the 12 of them?",
        "translated": r"Doze amigos se encontraram para jantar e cada um pediu uma refeição. As porções eram tão grandes que havia comida suficiente para 18 pessoas. Se dividirem, quantas refeições deveriam ter pedido para ter comida exatamente suficiente para os 12?",
    },
    ("math500", "test/algebra/2551.json"): {
        "reworded": r"A full-price ticket costs $\$20$. Susan buys $4$ tickets with a $25\%$ off coupon and Pam buys $5$ tickets with a $30\%$ off coupon. How many dollars more than Susan does Pam pay?",
        "story": r"Concert passes cost $\$20$ each at full price. Maria gets $4$ passes with a coupon for $25\%$ off, and her brother Leo gets $5$ passes with a coupon for $30\%$ off. By how many dollars does Leo's bill exceed Maria's?",
        "translated": r"Eine Eintrittskarte für eine Show kostet zum vollen Preis $\$20$. Susan kauft $4$ Karten mit einem Gutschein über $25\%$ Rabatt. Pam kauft $5$ Karten mit einem Gutschein über $30\%$ Rabatt. Wie viele Dollar zahlt Pam mehr als Susan?",
    },
    ("math500", "test/intermediate_algebra/90.json"): {
        "reworded": r"A sequence has $x_1=211$, $x_2=375$, $x_3=420$, $x_4=523$, and $x_n=x_{n-1}-x_{n-2}+x_{n-3}-x_{n-4}$ for $n\ge 5$. Compute $x_{531}+x_{753}+x_{975}$.",
        "story": r"A stock's price on day $n$ is $x_n$: $x_1=211$, $x_2=375$, $x_3=420$, $x_4=523$, and from day 5 on, $x_n=x_{n-1}-x_{n-2}+x_{n-3}-x_{n-4}$. An analyst adds up the prices on days 531, 753 and 975. What total, $x_{531}+x_{753}+x_{975}$, does she get?",
        "translated": r"Sabiendo que $x_{1}=211$, $x_{2}=375$, $x_{3}=420$, $x_{4}=523$ y $x_{n}=x_{n-1}-x_{n-2}+x_{n-3}-x_{n-4}$ cuando $n\geq5$, halla el valor de $x_{531}+x_{753}+x_{975}$.",
    },
    ("math500", "test/algebra/1842.json"): {
        "reworded": r"For simplified fractions, define $\frac{m}{n}@\frac{p}{q}=(m)(p)\left(\frac{q}{n}\right)$. Simplify $\frac{7}{30}@\frac{10}{21}$.",
        "story": r"In a puzzle book, the operation @ on simplified fractions is $\frac{m}{n}@\frac{p}{q} = (m)(p)\left(\frac{q}{n}\right)$. The puzzle asks for $\frac{7}{30}@\frac{10}{21}$ in simplest form. What is it?",
        "translated": r"L'opération @ est définie par $\frac{m}{n}@\frac{p}{q} = (m)(p)\left(\frac{q}{n}\right)$ pour des fractions simplifiées $\frac{p}{q}$. Quelle est la valeur simplifiée de $\frac{7}{30}@\frac{10}{21}$ ?",
    },
    ("math500", "test/prealgebra/954.json"): {
        "reworded": r"At a constant speed, a robot needs 2.5 hours to go 1 kilometer. At that speed it crosses a hallway in 90 seconds. How long is the hallway in meters?",
        "story": r"A snail-paced vacuum robot covers 1 kilometer in 2.5 hours at a steady speed. Cleaning the corridor of an office at the same speed takes it 90 seconds. How many meters long is the corridor?",
        "translated": r"Un robot che avanza a velocità costante impiega 2.5 ore per percorrere 1 chilometro. Alla stessa velocità, impiega 90 secondi per percorrere un corridoio. Quanti metri è lungo il corridoio?",
    },
    ("math500", "test/counting_and_probability/216.json"): {
        "reworded": r"From a committee of 8 Republicans and 6 Democrats, how many 5-member subcommittees contain at least one member of each party?",
        "story": r"A school club has 8 seniors and 6 juniors. The club must send a delegation of 5 members that includes at least one senior and at least one junior. How many different delegations are possible?",
        "translated": r"Uma comissão do Senado tem 8 republicanos e 6 democratas. De quantas maneiras podemos formar uma subcomissão de 5 membros com pelo menos um membro de cada partido?",
    },
    ("math500", "test/prealgebra/1730.json"): {
        "reworded": r"Three consecutive integers have product 120, and that product divided by their mean is 24. What is the largest of them?",
        "story": r"Three sisters have consecutive integer ages whose product is 120. Dividing that product by their average age gives 24. How old is the eldest sister?",
        "translated": r"Das Produkt dreier aufeinanderfolgender ganzer Zahlen ist 120. Dieses Produkt geteilt durch den Mittelwert der drei Zahlen ist 24. Was ist die größte der drei Zahlen?",
    },
    ("math500", "test/counting_and_probability/238.json"): {
        "reworded": r"Count the ways to seat 8 people at a square table with 2 people per side, where seatings that differ by a rotation are considered the same.",
        "story": r"Eight board-game players sit at a square card table, 2 on each side. Two seatings count as the same if one is a rotation of the other. How many different seatings are there?",
        "translated": r"¿De cuántas maneras se pueden sentar 8 personas alrededor de una mesa cuadrada con 2 personas por lado? (Dos configuraciones se consideran equivalentes si una es una rotación de la otra.)",
    },
    ("math500", "test/prealgebra/1353.json"): {
        "reworded": r"All $54$ cards of a deck are dealt evenly to $x$ players, $y$ cards each. With $x\ge 2$ and $y\ge 5$, how many values of $x$ are possible?",
        "story": r"A teacher hands out all $54$ stickers equally to $x$ children, each child getting $y$ stickers. There are at least $2$ children and each gets at least $5$ stickers. How many possible values of $x$ are there?",
        "translated": r"J'ai un paquet de $54$ cartes et je distribue toutes les cartes à $x$ joueurs, chaque joueur recevant $y$ cartes. Si $x$ vaut au moins $2$ et $y$ au moins $5$, combien de valeurs de $x$ sont possibles ?",
    },
    ("math500", "test/intermediate_algebra/690.json"): {
        "reworded": r"Reflect every point of the circle $x^2+y^2=25$ through the point $(4,1)$. The image points satisfy $x^2+ay^2+bx+cy+d=0$. Find the ordered quadruple $(a,b,c,d)$.",
        "story": r"A circular fountain's rim is the curve $x^2 + y^2 = 25$. A mirror image of the rim is taken through the lamp post at $(4,1),$ and the reflected rim satisfies $x^2 + ay^2 + bx + cy + d = 0.$ What is $(a,b,c,d)$?",
        "translated": r"Se ogni punto della circonferenza $x^2 + y^2 = 25$ viene riflesso rispetto al punto $(4,1),$ l'insieme dei punti immagine soddisfa l'equazione $x^2 + ay^2 + bx + cy + d = 0.$ Calcolare la quaterna ordinata $(a,b,c,d)$ di numeri reali.",
    },
    ("math500", "test/algebra/2264.json"): {
        "reworded": r"Someone meant to compute $\frac{-3+4i}{1+2i}$ but dropped the minus sign and got $\frac{3+4i}{1+2i}=\frac{11}{5}-\frac{2}{5}i$. What is the correct value?",
        "story": r"A student, Dana, was asked to compute $\frac{-3+4i}{1+2i}$ on a quiz. She misread the minus sign and found $\frac{3+4i}{1+2i}=\frac{11}{5}-\frac{2}{5}i$. What answer should she have written?",
        "translated": r"William Sydney Porter intentó calcular $\frac{-3+4i}{1+2i}$. Sin embargo, olvidó el signo menos y obtuvo $\frac{3+4i}{1+2i}=\frac{11}{5}-\frac{2}{5}i$. ¿Qué respuesta debería haber obtenido?",
    },
    ("math500", "test/precalculus/1291.json"): {
        "reworded": r"Apply a clockwise $90^\circ$ rotation about $-4-5i$ to the complex number $3$. What is the image?",
        "story": r"A toy car sits at the complex number $3$. It is spun $90^\circ$ clockwise around a peg placed at $-4 - 5i$. At which complex number does the car end up?",
        "translated": r"Uma rotação de $90^\circ$ em torno de $-4 - 5i$ no sentido horário é aplicada a $3$ (como número complexo). Qual é o número complexo resultante?",
    },
    ("math500", "test/intermediate_algebra/1797.json"): {
        "reworded": r"A hyperbola has asymptotes $y=2x-3$ and $y=17-2x$ and passes through $(4,7)$. How far apart are its foci?",
        "story": r"A comet's path is a hyperbola whose asymptotes are the lines $y = 2x - 3$ and $y = 17 - 2x$, and the comet was seen at $(4,7)$. What is the distance between the two foci of its path?",
        "translated": r"Die Asymptoten einer Hyperbel sind $y = 2x - 3$ und $y = 17 - 2x.$ Außerdem verläuft die Hyperbel durch den Punkt $(4,7).$ Bestimme den Abstand der Brennpunkte der Hyperbel.",
    },
    ("math500", "test/algebra/2743.json"): {
        "reworded": r"Three pencils plus one jumbo eraser cost $\$1.24$, and five pencils plus one jumbo eraser cost $\$1.82$ (no tax). What is the price of one pencil in cents?",
        "story": r"At the school store, 3 pencils and a jumbo eraser ring up at $\$1.24$, while 5 pencils and a jumbo eraser ring up at $\$1.82$, tax-free. How many cents does one pencil cost?",
        "translated": r"Trois crayons et une grosse gomme coûtent $\$1.24$. Cinq crayons et une grosse gomme coûtent $\$1.82$. Aucun prix n'inclut de taxe. En centimes, combien coûte un crayon ?",
    },
    ("math500", "test/algebra/1814.json"): {
        "reworded": r"A two-digit number's digits add to $13$, and the number minus its reversal is $27$. Find the number plus its reversal.",
        "story": r"A locker code is a two-digit number whose digits sum to $13.$ Subtracting the code with its digits swapped from the code gives $27.$ What is the sum of the code and the swapped code?",
        "translated": r"La suma de los dígitos de un número de dos cifras es $13.$ La diferencia entre el número y el número con sus cifras invertidas es $27.$ ¿Cuál es la suma del número original y el número con las cifras invertidas?",
    },
    ("math500", "test/intermediate_algebra/158.json"): {
        "reworded": r"Positive reals $a,b,c,d$ satisfy $a+b+c+d=10$. What is the largest possible value of $ab^2c^3d^4$?",
        "story": r"A farmer splits 10 hectares among four crops, $a + b + c + d = 10$ with each share positive, and her profit index is $ab^2 c^3 d^4.$ What is the largest profit index she can reach?",
        "translated": r"Siano $a,$ $b,$ $c,$ e $d$ numeri reali positivi tali che $a + b + c + d = 10.$ Trovare il valore massimo di $ab^2 c^3 d^4.$",
    },
    # ---------------------------------------------------------------- LiveCodeBench
    ("lcb", "abc383_d"): {
        "reworded": "Given an integer N (1 <= N <= 4 x 10^{12}), count how many positive integers up to N have exactly 9 divisors. Read N from standard input and print the count. For example, N = 200 gives 3 (the numbers 36, 100 and 196), and N = 4000000000000 gives 407073.",
        "story": "A collector keeps coins numbered 1 to N and calls a coin lucky when its number has exactly 9 positive divisors. Input: one integer N with 1 \\leq N \\leq 4 \\times 10^{12}, from standard input. Output: how many lucky coins there are. Sample: input 200, output 3 (coins 36, 100, 196); input 4000000000000, output 407073.",
        "translated": "Trouvez le nombre d'entiers positifs inférieurs ou égaux à N qui ont exactement 9 diviseurs positifs. Entrée : N sur l'entrée standard. Sortie : la réponse. Contraintes : 1 \\leq N \\leq 4 \\times 10^{12}, toutes les valeurs sont entières. Exemple 1 : entrée 200, sortie 3 (36, 100 et 196 conviennent). Exemple 2 : entrée 4000000000000, sortie 407073.",
    },
    ("lcb", "3676"): {
        "reworded": "For a positive integer n (1 <= n <= 1000), return the least x >= n whose binary form consists only of 1 bits. Examples: n = 5 -> 7 (binary \"111\"); n = 10 -> 15 (\"1111\"); n = 3 -> 3 (\"11\").",
        "story": "A row of light bulbs encodes a number in binary. Given a positive number n, find the smallest number x greater than or equal to n such that when x is shown on the bulbs, every bulb is on (all set bits). Example 1: n = 5, answer 7 (\"111\"). Example 2: n = 10, answer 15 (\"1111\"). Example 3: n = 3, answer 3 (\"11\"). Constraints: 1 <= n <= 1000.",
        "translated": "Dado un número positivo n, devuelve el menor número x mayor o igual que n tal que la representación binaria de x contenga solo bits encendidos. Ejemplo 1: n = 5, salida 7 (\"111\"). Ejemplo 2: n = 10, salida 15 (\"1111\"). Ejemplo 3: n = 3, salida 3 (\"11\"). Restricciones: 1 <= n <= 1000.",
    },
    ("lcb", "3552"): {
        "reworded": "Call an integer k-palindromic if it reads the same backwards and is a multiple of k. Given n and k, return as a string the largest n-digit k-palindromic integer with no leading zeros. Examples: n = 3, k = 5 -> \"595\"; n = 1, k = 4 -> \"8\" (4 and 8 are the only ones); n = 5, k = 6 -> \"89898\". Constraints: 1 <= n <= 10^5, 1 <= k <= 9.",
        "story": "A ticket printer wants serial numbers that are palindromes and divisible by k, which it calls k-palindromic. Given the number of digits n and the divisor k, output as a string the largest n-digit k-palindromic serial (no leading zeros). Example 1: n = 3, k = 5, output \"595\". Example 2: n = 1, k = 4, output \"8\" (4 and 8 qualify). Example 3: n = 5, k = 6, output \"89898\". Constraints: 1 <= n <= 10^5, 1 <= k <= 9.",
        "translated": "Sono dati due interi positivi n e k. Un intero x si dice k-palindromo se x è palindromo ed è divisibile per k. Restituire il più grande intero di n cifre (come stringa) che sia k-palindromo, senza zeri iniziali. Esempio 1: n = 3, k = 5, output \"595\". Esempio 2: n = 1, k = 4, output \"8\" (4 e 8 sono gli unici). Esempio 3: n = 5, k = 6, output \"89898\". Vincoli: 1 <= n <= 10^5, 1 <= k <= 9.",
    },
    ("lcb", "3626"): {
        "reworded": "Given integers n and t, find the least number that is at least n and whose digit product is a multiple of t. Examples: n = 10, t = 2 -> 10 (product 0 is divisible by 2); n = 15, t = 3 -> 16 (product 6). Constraints: 1 <= n <= 100, 1 <= t <= 10.",
        "story": "A vending machine accepts a coupon number only if the product of its digits is divisible by t. Starting from n, find the first acceptable coupon number (the smallest number greater than or equal to n whose digit product is divisible by t). Example 1: n = 10, t = 2 gives 10, since its digit product 0 is divisible by 2. Example 2: n = 15, t = 3 gives 16, digit product 6. Constraints: 1 <= n <= 100, 1 <= t <= 10.",
        "translated": "Du erhältst zwei ganze Zahlen n und t. Gib die kleinste Zahl größer oder gleich n zurück, deren Ziffernprodukt durch t teilbar ist. Beispiel 1: n = 10, t = 2, Ausgabe 10 (Ziffernprodukt 0 ist durch 2 teilbar). Beispiel 2: n = 15, t = 3, Ausgabe 16 (Ziffernprodukt 6 ist durch 3 teilbar). Einschränkungen: 1 <= n <= 100, 1 <= t <= 10.",
    },
    ("lcb", "3685"): {
        "reworded": "Count the length-3 subarrays of an integer array nums in which the first plus the third element is exactly half of the middle element. Example: nums = [1,2,1,4,1] gives 1 (only [1,4,1]); nums = [1,1,1] gives 0. Constraints: 3 <= nums.length <= 100, -100 <= nums[i] <= 100.",
        "story": "A weather station logs daily temperatures in an array nums. A three-day window is balanced when the first day's plus the third day's reading equals exactly half the middle day's. Return how many consecutive three-day windows are balanced. Example 1: nums = [1,2,1,4,1] -> 1, the window [1,4,1]. Example 2: nums = [1,1,1] -> 0. Constraints: 3 <= nums.length <= 100, -100 <= nums[i] <= 100.",
        "translated": "Dado um array de inteiros nums, retorne o número de subarrays de comprimento 3 tais que a soma do primeiro e do terceiro números seja exatamente metade do segundo número. Exemplo 1: nums = [1,2,1,4,1], saída 1 (apenas [1,4,1]). Exemplo 2: nums = [1,1,1], saída 0. Restrições: 3 <= nums.length <= 100, -100 <= nums[i] <= 100.",
    },
}
